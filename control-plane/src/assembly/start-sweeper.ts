import type { ControlPlaneConfig, Logger } from '@meshlet/shared';
import type { Replication } from '../ha/replication.js';
import type { AgentSession } from '../stream/agent-session.js';
import type { ControlPlaneParts } from './create-parts.js';

/**
 * Starts the periodic sweep: agents silent past the heartbeat timeout leave
 * the table, long-gone ones are forgotten (and services unused for
 * `registry.serviceExpiryMs`), the engines move on with time,
 * unanswered changes expire. Returns the timer.
 */
export function startSweeper(
  config: ControlPlaneConfig,
  log: Logger,
  parts: ControlPlaneParts,
  replication: Replication,
  sessions: ReadonlyMap<string, AgentSession>,
): NodeJS.Timeout {
  const { registry, health, failover, pusher, stats } = parts;
  return setInterval(() => {
    replication.vouch(config.heartbeat.timeoutMs);
    for (const record of registry.silentAgents(config.heartbeat.timeoutMs)) {
      if (record.replica) {
        // An agent of another replica: that replica stopped vouching for it (it died, and the agent has not reconnected anywhere).
        const why = record.replica.orphaned
          ? `its control-plane replica ${record.replica.id} went away and it did not reconnect`
          : `replica ${record.replica.id} has not heard from it`;
        log.warn({ agentId: record.agentId, replica: record.replica.id }, `${why}; removing it from the routing table`);
        registry.disconnect(record, `${why} within ${config.heartbeat.timeoutMs} ms`);
        continue;
      }
      log.warn({ agentId: record.agentId }, 'agent missed its heartbeats; removing it from the routing table');
      sessions.get(record.agentId)?.expire(config.heartbeat.timeoutMs);
    }
    registry.forget(config.registry.forgetAfterMs);
    // The store's list of services is one key: one replica, the deciding one, prunes it.
    if (replication.leading) parts.serviceExpiry.sweep();
    health.tick();
    // A follower's serving tiers are the leader's (adopted with its tables); only the leader's move on with time.
    if (replication.leading) failover.tick();
    pusher.expirePending();
    stats.prune();
  }, config.heartbeat.checkIntervalMs);
}
