import type { Logger } from '@meshlet/shared';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { AgentRecord } from '../registry/agent-record.js';

/** Why agents sharing one caller identity look like one process posing as several (the `reason` label). */
export type SuspiciousMerge = 'same_address' | 'no_instance';

/** Options of {@link SharedIdentities}. */
export interface SharedIdentitiesOptions {
  metrics: ControlPlaneMetrics;
  log: Logger;
  clock: () => number;
  /** Agents of one identity that reported within this long of each other are merged. */
  withinMs?: number;
  /** At most one log line per identity this often. */
  logEveryMs?: number;
}

interface Seen {
  at: number;
  remoteAddress: string;
  hasInstance: boolean;
}

/**
 * Watches the agents that report observations under one caller identity
 * (a join credential), which the health quorum counts as one caller.
 *
 * Sharing is normal: credentials are minted per service, so the replicas of
 * a calling service share one; that is logged at debug only. A merge is
 * suspicious, counted in `meshlet_cp_callers_merged_total{reason}` and
 * logged at warn (once a minute per identity), when the agents sharing the
 * identity look like one process with several streams: two of them connect
 * from one address (`same_address`), or one registers no instance
 * (`no_instance`: a client-only agent, nothing tells its streams apart).
 */
export class SharedIdentities {
  readonly #o: SharedIdentitiesOptions;
  readonly #byIdentity = new Map<string, { agents: Map<string, Seen>; loggedAt: number }>();

  constructor(options: SharedIdentitiesOptions) {
    this.#o = options;
  }

  /** Notes that the agent of `record` reported accepted observations as `identity`. */
  note(record: AgentRecord, identity: string): void {
    if (identity === record.agentId) return;
    const now = this.#o.clock();
    const within = this.#o.withinMs ?? 10_000;
    let seen = this.#byIdentity.get(identity);
    if (!seen) this.#byIdentity.set(identity, (seen = { agents: new Map(), loggedAt: -Infinity }));
    for (const [id, s] of seen.agents) if (now - s.at > within) seen.agents.delete(id);
    seen.agents.set(record.agentId, {
      at: now,
      remoteAddress: record.remoteAddress,
      hasInstance: record.instance !== undefined,
    });
    if (seen.agents.size < 2) {
      if (seen.agents.size === 0) this.#byIdentity.delete(identity);
      return;
    }
    const reason = suspicion([...seen.agents.values()]);
    if (reason) this.#o.metrics.callersMerged.inc({ reason });
    if (now - seen.loggedAt < (this.#o.logEveryMs ?? 60_000)) return;
    seen.loggedAt = now;
    const fields = { identity, agents: [...seen.agents.keys()].sort() };
    if (reason) {
      this.#o.log.warn(
        { ...fields, reason },
        reason === 'same_address'
          ? 'agents that joined with one credential report observations from one address: they count as one caller in the health quorum'
          : 'client-only agents that joined with one credential report observations: they count as one caller in the health quorum',
      );
    } else {
      this.#o.log.debug(fields, "replicas sharing their service's credential report observations: one caller");
    }
  }
}

function suspicion(agents: Seen[]): SuspiciousMerge | undefined {
  const addresses = new Set(agents.map((a) => a.remoteAddress));
  if (addresses.size < agents.length) return 'same_address';
  if (agents.some((a) => !a.hasInstance)) return 'no_instance';
  return undefined;
}
