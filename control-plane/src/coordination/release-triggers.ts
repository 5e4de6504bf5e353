import type { Clock } from '@meshlet/shared';
import type { HealthState } from '../health/health-state.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { HeldLock } from './lock-backend.js';

/** A held lock whose holder's agent or instance says it must go. */
export interface DueRelease {
  held: HeldLock;
  reason: 'disconnected' | 'unhealthy';
}

/** What {@link ReleaseTriggers} reads: the registry (every replica's agents) and the health engine. */
export interface HolderSignals {
  agent: (agentId: string) => AgentRecord | undefined;
  health: (instanceId: string) => HealthState | undefined;
  /** `heartbeat.timeoutMs`: how long a holder's agent may be gone before its locks go. */
  timeoutMs: number;
  clock: Clock;
  /**
   * The store's revision when this control plane started: a lock with a
   * token at or below it was held before the start, and gets the start-up
   * grace. Default: every lock does.
   */
  startRevision?: number;
}

/**
 * Decides which held locks lose their holder to their agent or instance:
 *
 * - `disconnected`: the holder's agent has had no stream, to this replica or
 *   any other, for longer than the heartbeat timeout (an agent that
 *   reconnects in time keeps its locks). The time it went is this replica's
 *   own clock: its own stamp for an agent of this replica; for an agent of
 *   another replica (whose stamp is that replica's clock, which may be
 *   skewed) or one the registry does not know at all (a control plane that
 *   just restarted, an agent forgotten), when this replica first saw it
 *   gone. And a lock held from before this control plane started (token at
 *   or below `startRevision`) never within `max(heartbeat timeout, its TTL)`
 *   of the start: after a restart, an agent that has not reconnected yet is
 *   not gone, and its holder's lease (a fresh full TTL from the start on
 *   the file store) runs as its app believes. (A lock taken since was taken
 *   by a connected agent, whose leaving this control plane sees.)
 * - `unhealthy`: the holder's instance is `unhealthy` in the health engine,
 *   its agent is connected (a lost connection is the case above), and the
 *   lock was taken with `releaseOnUnhealthy` (the default).
 *
 * Pure over its signals and clock; the caller acts only where it decides
 * (`Replication.leading`).
 */
export class ReleaseTriggers {
  readonly #s: HolderSignals;
  readonly #missingSince = new Map<string, number>();
  readonly #startedAt: number;

  constructor(signals: HolderSignals) {
    this.#s = signals;
    this.#startedAt = signals.clock();
  }

  /** The held locks to free now; call it on every sweep (also where it does not act), so that its stamps stay current. */
  due(held: readonly HeldLock[]): DueRelease[] {
    const now = this.#s.clock();
    const out: DueRelease[] = [];
    const missing = new Set<string>();
    for (const h of held) {
      const { agentId, instanceId } = h.record.holder;
      const agent = this.#s.agent(agentId);
      if (!agent?.connected) {
        // A remote agent's disconnectedAt is its replica's clock: stamp it on this one's.
        let since = agent?.replica === undefined ? agent?.disconnectedAt : undefined;
        if (since === undefined) {
          since = this.#missingSince.get(agentId) ?? now;
          this.#missingSince.set(agentId, since);
          missing.add(agentId);
        }
        const starting =
          h.token <= (this.#s.startRevision ?? Infinity) &&
          now - this.#startedAt < Math.max(this.#s.timeoutMs, h.record.ttlMs);
        if (now - since > this.#s.timeoutMs && !starting) out.push({ held: h, reason: 'disconnected' });
        continue;
      }
      if (h.record.releaseOnUnhealthy && this.#s.health(instanceId) === 'unhealthy')
        out.push({ held: h, reason: 'unhealthy' });
    }
    for (const id of [...this.#missingSince.keys()]) if (!missing.has(id)) this.#missingSince.delete(id);
    return out;
  }
}
