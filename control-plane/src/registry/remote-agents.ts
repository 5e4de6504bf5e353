import type { AgentRecord, Registration } from './agent-record.js';
import type { Registry } from './registry.js';

/**
 * The agents of other control-plane replicas in this replica's registry,
 * as their registrations and their replica's word about them arrive
 * through etcd: how they enter, change and leave it, and how they meet the
 * agents connected here. A standalone control plane has none.
 */
export class RemoteAgents {
  readonly #registry: Registry;
  readonly #clock: () => number;
  readonly #onReplacedLocal: (record: AgentRecord) => void;

  constructor(
    registry: Registry,
    options: {
      clock: () => number;
      /** Called with a record of this replica's that another replica's registration of the same agent replaced (its stream is stale). */
      onReplacedLocal?: (record: AgentRecord) => void;
    },
  ) {
    this.#registry = registry;
    this.#clock = options.clock;
    this.#onReplacedLocal = options.onReplacedLocal ?? (() => undefined);
  }

  /**
   * Takes in the registration of an agent connected to another replica. A
   * connection registered there replaces whatever is held, as the latest
   * write in etcd does (an agent has one stream at a time; replicas' clocks
   * are not compared); when it replaces one of this replica's own, that
   * stream is stale and `onReplacedLocal` is told, to close it. A
   * disconnect from another replica than the one holding the agent is stale
   * (the agent left that replica for this one, or a third) and ignored.
   */
  apply(reg: Registration): void {
    const held = this.#registry.get(reg.agentId);
    const sameConnection = held?.replica?.id === reg.replica && held.connectedAt === reg.connectedAt;
    if (!sameConnection && !reg.connected && held?.connected) return;
    if (held && sameConnection && held.replica) {
      // A role or offset its check reported on the other replica counts too: the roles here follow it.
      const changed =
        held.connected !== reg.connected ||
        held.health !== reg.health ||
        held.replica.orphaned ||
        held.role !== reg.role ||
        held.replicationOffset !== reg.replicationOffset;
      held.trustGeneration = reg.trustGeneration;
      held.certificateIssuer = reg.certificateIssuer;
      held.connected = reg.connected;
      held.disconnectedAt = reg.disconnectedAt;
      held.disconnectReason = reg.disconnectReason;
      held.graceful = reg.graceful;
      held.health = reg.health;
      held.healthReason = reg.healthReason;
      held.subscriptions = reg.subscriptions;
      held.role = reg.role;
      held.replicationOffset = reg.replicationOffset;
      held.replica.orphaned = false;
      if (reg.connected) held.lastSeenAt = this.#clock();
      if (changed) this.#registry.changed(held);
      return;
    }
    if (held && held.replica === undefined && held.connected) this.#onReplacedLocal(held);
    this.#registry.put({
      ...reg,
      lastSeenAt: this.#clock(),
      sent: undefined,
      acked: undefined,
      nacked: undefined,
      rings: {},
      replica: { id: reg.replica, orphaned: false },
    });
  }

  /** Notes that the replica holding a remote agent last heard from it `silentMs` ago. */
  seen(agentId: string, replica: string, silentMs: number): void {
    const r = this.#registry.get(agentId);
    if (r?.replica?.id !== replica || !r.connected) return;
    r.replica.silentMs = silentMs;
    r.lastSeenAt = this.#clock() - silentMs;
  }

  /**
   * Brings the agents of other replicas up to date with what their replica
   * last said (it heard from the agent `silentMs` ago), however long ago it
   * said it: a pause in its word is not the agent's silence. Only an
   * orphaned agent (its replica died) ages on its own. `cutOff`: this replica
   * is cut off from etcd, where that word comes from; every agent of another
   * replica then counts as seen now.
   */
  refresh(cutOff: boolean): void {
    const now = this.#clock();
    for (const r of this.#registry.agents()) {
      if (!r.replica || !r.connected) continue;
      if (cutOff) r.lastSeenAt = now;
      else if (!r.replica.orphaned) r.lastSeenAt = now - (r.replica.silentMs ?? 0);
    }
  }

  /**
   * The registration of a remote agent is gone: its replica forgot it, or
   * died and its lease expired. A connected agent stays as it is, orphaned,
   * until it reconnects somewhere or misses the heartbeat timeout.
   */
  remove(agentId: string, replica: string): void {
    const r = this.#registry.get(agentId);
    if (r?.replica?.id === replica) r.replica.orphaned = true;
  }
}
