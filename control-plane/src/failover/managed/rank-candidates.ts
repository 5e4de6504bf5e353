import type { RoleReport } from '../../health/instance-roles.js';

/** One instance of a managed service as the ranking sees it. */
export interface FailoverMember {
  id: string;
  /** Routed as healthy in the table now (connected, not ejected, not draining). */
  routable: boolean;
  /** `instance.failover.priority` from its hello; undefined: it does not take part. */
  priority: number | undefined;
  /** Its agent's last report of the check's role and offset. */
  report: RoleReport | undefined;
}

/** A standby that may take over, with how far it is behind. */
export interface RankedCandidate {
  id: string;
  offset: number;
  priority: number;
  /** Bytes behind the primary's last reported offset (0 when none is known). */
  lagBytes: number;
}

/**
 * The standbys that may campaign for a managed service's failover election,
 * best first: routable, their check healthy and saying `replica`, priority
 * above 0, and at most `maxLagBytes` behind `primaryOffset` (the primary's
 * last reported offset; undefined: none known, every standby qualifies).
 * Ordered by offset (the most caught up first: it loses the least), then
 * priority, then id (so that every replica ranks alike). Patroni's order
 * too: lag first (`maximum_lag_on_failover`), then `failover_priority`.
 */
export function rankCandidates(
  members: readonly FailoverMember[],
  primaryOffset: number | undefined,
  maxLagBytes: number,
  exclude?: string,
): RankedCandidate[] {
  const out: RankedCandidate[] = [];
  for (const m of members) {
    const r = m.report;
    if (m.id === exclude || !m.routable || m.priority === undefined || m.priority <= 0) continue;
    if (r === undefined || !r.healthy || r.role !== 'replica') continue;
    const offset = r.replicationOffset ?? 0;
    const lagBytes = primaryOffset === undefined ? 0 : Math.max(0, primaryOffset - offset);
    if (lagBytes > maxLagBytes) continue;
    out.push({ id: m.id, offset, priority: m.priority, lagBytes });
  }
  return out.sort((a, b) => b.offset - a.offset || b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * The offset lag is counted from: the primary's last reported one, else
 * (no primary seen by this control plane yet: it just started or became the
 * leader) the highest offset any instance reported, so that `maxLagBytes`
 * holds from the start.
 */
export function referenceOffset(primaryOffset: number | undefined, members: FailoverMember[]): number | undefined {
  if (primaryOffset !== undefined) return primaryOffset;
  const offsets = members.flatMap((m) =>
    m.report?.replicationOffset === undefined ? [] : [m.report.replicationOffset],
  );
  return offsets.length === 0 ? undefined : Math.max(...offsets);
}

/**
 * The instances whose check already says primary that may take a vacant
 * term without a promote, the most advanced first: routable, healthy, taking
 * part, the last term's holder (`lastHolder`; undefined: no term known, any),
 * within `maxLagBytes` of `reference`, and, when `bestStandby` is given
 * (the first ranked candidate's offset; the caller passes it only while no
 * term is known, see ManagedFailover), at least as far as it: one behind it
 * would lose the writes that standby has (ties go to the sitting primary).
 */
export function sittingPrimaries(
  members: readonly FailoverMember[],
  lastHolder: string | undefined,
  reference: number | undefined,
  maxLagBytes: number,
  bestStandby?: number,
): string[] {
  return members
    .filter((m) => m.routable && m.priority !== undefined && m.report?.healthy && m.report.role === 'primary')
    .filter((m) => lastHolder === undefined || m.id === lastHolder)
    .filter((m) => reference === undefined || reference - (m.report?.replicationOffset ?? 0) <= maxLagBytes)
    .filter((m) => bestStandby === undefined || (m.report?.replicationOffset ?? 0) >= bestStandby)
    .sort((a, b) => (b.report?.replicationOffset ?? 0) - (a.report?.replicationOffset ?? 0))
    .map((m) => m.id);
}
