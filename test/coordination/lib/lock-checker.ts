import type { FencedWrite } from './fenced-resource.js';
import type { AcquireEvent, Holder, LockEvent } from './lock-history.js';

/** What the store holds for a lock at one revision (etcd: the key read at `revision = token`). */
export interface StoreRecord {
  /** The key's create revision at that revision (0 or absent: no key). */
  createRevision: number;
  /** Who the value names. */
  holder?: Holder;
}

/** Everything a run recorded, for {@link checkLocks}. */
export interface LockRun {
  /** Every client's events. */
  events: readonly LockEvent[];
  /** The fenced resource's log, in the order it decided. */
  writes: readonly FencedWrite[];
  /** The store's record at each granted token; absent: the store was not read (no violations of that kind counted). */
  store?: ReadonlyMap<number, StoreRecord | undefined>;
}

/** The counts of a run, and every violation found (none, when the locks held). */
export interface LockVerdict {
  acquires: number;
  acquireAttempts: number;
  /** 409 MESHLET_LOCK_HELD after the wait. */
  held: number;
  /** 503 or no answer. */
  unavailable: number;
  writesAccepted: number;
  /** Refused as stale by the resource: fencing at work. */
  writesRefused: number;
  /** Of those, writes made inside their writer's lease (by its clock): a holder cut short (unhealthy, disconnected, forced). */
  honestRefused: number;
  /** Writes sent after the writer's own lease had ended (simulated pauses). */
  lateWrites: number;
  /** Renewals: granted, refused (409: the lock was gone), in doubt (503 or no answer). */
  renewals: { ok: number; lost: number; doubt: number };
  storeChecked: number;
  /** Failed acquires by status and code (`503 MESHLET_COORDINATION_UNAVAILABLE`, `0 ECONNREFUSED`, …). */
  failures: Record<string, number>;
  violations: string[];
}

/**
 * The checker, after Jepsen's: given what the clients saw, what the fenced
 * resource decided and what the store recorded, it finds
 * - two successful acquires with the same token (two holders of one token);
 * - a write the resource accepted with a token below one it had accepted
 *   before (and a write it refused although its token was current);
 * - an accepted write whose token was never granted to its writer;
 * - a successful acquire the store does not record: no key created at the
 *   token's revision, or one naming another holder.
 */
export function checkLocks(run: LockRun): LockVerdict {
  const violations: string[] = [];
  const attempts = run.events.filter((e): e is AcquireEvent => e.type === 'acquire');
  const granted = attempts.filter((a) => a.status === 200);
  const v: LockVerdict = {
    acquires: granted.length,
    acquireAttempts: attempts.length,
    held: attempts.filter((a) => a.status === 409).length,
    unavailable: attempts.filter((a) => a.status === 0 || a.status === 503).length,
    writesAccepted: run.writes.filter((w) => w.accepted).length,
    writesRefused: run.writes.filter((w) => !w.accepted).length,
    honestRefused: run.writes.filter((w) => !w.accepted && !w.late).length,
    lateWrites: run.events.filter((e) => e.type === 'write' && e.late).length,
    renewals: { ok: 0, lost: 0, doubt: 0 },
    storeChecked: 0,
    failures: {},
    violations,
  };
  for (const a of attempts) {
    if (a.status === 200) continue;
    const why = `${a.status} ${a.code ?? ''}`.trim();
    v.failures[why] = (v.failures[why] ?? 0) + 1;
  }

  for (const e of run.events)
    if (e.type === 'renew') v.renewals[e.status === 200 ? 'ok' : e.status === 409 ? 'lost' : 'doubt']++;

  const byToken = new Map<number, AcquireEvent>();
  for (const a of granted) {
    if (!Number.isSafeInteger(a.token) || (a.token as number) < 1) {
      violations.push(`${a.client}: acquire answered 200 without a token (${JSON.stringify(a)})`);
      continue;
    }
    const first = byToken.get(a.token as number);
    if (first)
      violations.push(
        `two holders with token ${a.token}: ${first.client} (acquired at ${first.returnedAt}) and ${a.client} (at ${a.returnedAt})`,
      );
    else byToken.set(a.token as number, a);
  }

  let highest = 0;
  for (const w of run.writes) {
    if (w.accepted && w.token < highest)
      violations.push(`write #${w.seq} by ${w.client} accepted with token ${w.token} after token ${highest}`);
    if (!w.accepted && w.token >= highest)
      violations.push(`write #${w.seq} by ${w.client} refused with token ${w.token}, current (highest ${highest})`);
    if (w.accepted) {
      highest = Math.max(highest, w.token);
      const grant = byToken.get(w.token);
      if (!grant || grant.client !== w.client)
        violations.push(`write #${w.seq} by ${w.client} accepted with token ${w.token}, never granted to it`);
    }
  }

  if (run.store) {
    for (const [token, a] of byToken) {
      v.storeChecked++;
      const r = run.store.get(token);
      if (!r || !r.createRevision) {
        violations.push(`acquire by ${a.client} with token ${token} is not in the store at revision ${token}`);
        continue;
      }
      if (r.createRevision !== token)
        violations.push(
          `acquire by ${a.client} with token ${token}: the key at that revision was created at ${r.createRevision}`,
        );
      if (!sameHolder(a.holder, r.holder))
        violations.push(
          `acquire by ${a.client} with token ${token}: the store names ${JSON.stringify(r.holder)}, the answer ${JSON.stringify(a.holder)}`,
        );
    }
  }
  return v;
}

/** The same holder: equal agent and instance ids wherever both sides name them, and at least one id compared. */
function sameHolder(answer: Holder | undefined, store: Holder | undefined): boolean {
  if (!answer || !store) return false;
  let compared = 0;
  for (const k of ['agentId', 'instanceId'] as const) {
    if (answer[k] === undefined || store[k] === undefined) continue;
    if (answer[k] !== store[k]) return false;
    compared++;
  }
  return compared > 0;
}

/** One line of counts for logs and docs. */
export function describeVerdict(v: LockVerdict, extra: Record<string, number> = {}): string {
  const parts = {
    acquires: v.acquires,
    'acquire attempts': v.acquireAttempts,
    'held (409)': v.held,
    'unavailable (503 or no answer)': v.unavailable,
    'writes accepted': v.writesAccepted,
    'writes refused (stale token)': v.writesRefused,
    "of them inside the writer's lease": v.honestRefused,
    'late writes sent': v.lateWrites,
    renewals: v.renewals.ok,
    'renewals refused (lost)': v.renewals.lost,
    'renewals in doubt': v.renewals.doubt,
    'acquires checked in etcd': v.storeChecked,
    ...extra,
    violations: v.violations.length,
  };
  return Object.entries(parts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}
