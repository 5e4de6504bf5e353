/**
 * What the election apps record, one JSON object a line (appended
 * synchronously, so that an app killed with SIGKILL leaves what it believed):
 * `belief` when it is elected and at each renewal (it believes it leads in
 * `term` from `from` until `until`, its lease end by its own clock: the
 * agent's `expiresAt`), and `end` when it learns it no longer leads
 * (a renewal refused, a `lost` event, a resignation).
 */
export type ElectionEvent =
  | { type: 'belief'; app: string; term: number; from: number; until: number; at?: number }
  | { type: 'end'; app: string; term: number; at: number; why: string }
  | { type: 'campaign'; app: string; at: number; status: number; code?: string };

/** One app's belief that it leads in `term`, from its election to its lease end or to when it learned otherwise. */
export interface Belief {
  app: string;
  term: number;
  from: number;
  until: number;
}

/** The beliefs in `events`, one per app and term, in order of election. */
export function beliefsOf(events: readonly ElectionEvent[]): Belief[] {
  const by = new Map<string, Belief>();
  const ends = new Map<string, number>();
  for (const e of events) {
    const key = `${e.app}\u0000${'term' in e ? e.term : ''}`;
    if (e.type === 'belief') {
      const b = by.get(key);
      if (!b) by.set(key, { app: e.app, term: e.term, from: e.from, until: e.until });
      else {
        b.from = Math.min(b.from, e.from);
        b.until = Math.max(b.until, e.until);
      }
    } else if (e.type === 'end') ends.set(key, Math.min(ends.get(key) ?? Infinity, e.at));
  }
  for (const [key, at] of ends) {
    const b = by.get(key);
    if (b) b.until = Math.max(b.from, Math.min(b.until, at));
  }
  return [...by.values()].sort((a, b) => a.from - b.from || a.term - b.term);
}

/** The verdict on an election's history. */
export interface ElectionVerdict {
  elections: number;
  terms: number[];
  /** The longest time two apps both believed they led (in different terms), ms; 0 when never. */
  maxOverlapMs: number;
  /** Each time two apps both believed they led: who, which terms, how long. */
  overlaps: string[];
  violations: string[];
}

/**
 * Checks an election's beliefs: each term believed by one app only; terms
 * strictly increasing in the order the apps were elected; never two apps
 * that both believe they lead for longer than `leaseMs` (the bound:
 * an old leader that cannot renew stops believing at its lease end).
 */
export function checkElection(beliefs: readonly Belief[], leaseMs: number): ElectionVerdict {
  const violations: string[] = [];
  const owner = new Map<number, string>();
  for (const b of beliefs) {
    const o = owner.get(b.term);
    if (o !== undefined && o !== b.app) violations.push(`term ${b.term} believed by both ${o} and ${b.app}`);
    owner.set(b.term, b.app);
  }
  const ordered = [...beliefs].sort((a, b) => a.from - b.from || a.term - b.term);
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1] as Belief;
    const cur = ordered[i] as Belief;
    if (cur.term <= prev.term && cur.app !== prev.app)
      violations.push(`term ${cur.term} (${cur.app}) elected after term ${prev.term} (${prev.app}): not increasing`);
    if (cur.term < prev.term && cur.app === prev.app)
      violations.push(`${cur.app} elected in term ${cur.term} after term ${prev.term}: not increasing`);
  }
  let maxOverlapMs = 0;
  const overlaps: string[] = [];
  for (let i = 0; i < ordered.length; i++)
    for (let j = i + 1; j < ordered.length; j++) {
      const a = ordered[i] as Belief;
      const b = ordered[j] as Belief;
      if (a.app === b.app) continue;
      const overlap = Math.min(a.until, b.until) - Math.max(a.from, b.from);
      if (overlap <= 0) continue;
      maxOverlapMs = Math.max(maxOverlapMs, overlap);
      overlaps.push(`${a.app} (term ${a.term}) and ${b.app} (term ${b.term}): ${overlap} ms`);
      if (overlap > leaseMs)
        violations.push(
          `${a.app} (term ${a.term}) and ${b.app} (term ${b.term}) both believed they led for ${overlap} ms, over the ${leaseMs} ms lease`,
        );
    }
  return { elections: ordered.length, terms: ordered.map((b) => b.term), maxOverlapMs, overlaps, violations };
}
