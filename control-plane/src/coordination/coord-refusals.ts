import type { CoordResult, CoordState } from '@meshlet/shared';
import { COORD_RATE, MAX_HELD_PER_SERVICE } from './coord-limits.js';
import { coordRefused } from './coord-state.js';
import { WatchSets } from './watch-sets.js';

/**
 * The `MESHLET_COORDINATION_REFUSED` answers of the {@link Coordinator}, each
 * with its `refusal` (the agent's HTTP status: `no-service` 403, `store` 503,
 * `limit` 429, `request` 400, `unhealthy` 503: a waiting acquire keeps waiting, `not-candidate` 409: see ManagedFailover) and a message that says the fix.
 */
export const CoordRefusals = {
  noService: (id: number, agentId: string): CoordResult =>
    coordRefused(
      id,
      'no-service',
      `agent ${agentId} has no service, and lock names are scoped to the asker's service: register an instance (instance.service in the agent's config) or join with a per-service credential or workload certificate`,
    ),
  rate: (id: number): CoordResult =>
    coordRefused(
      id,
      'limit',
      `over ${COORD_RATE.perSecond} coordination requests per second on this stream (burst ${COORD_RATE.burst}): slow down; wait for release events rather than polling`,
    ),
  watches: (id: number): CoordResult =>
    coordRefused(id, 'limit', `this stream watches ${WatchSets.MAX_PER_PEER} locks already: unwatch some first`),
  heldPerService: (id: number, service: string): CoordResult =>
    coordRefused(
      id,
      'limit',
      `service ${service} holds ${MAX_HELD_PER_SERVICE} locks and elections already: release some first`,
    ),
  store: (id: number, message: string): CoordResult => coordRefused(id, 'store', message),
  noToken: (id: number, op: string): CoordResult =>
    coordRefused(id, 'request', `${op} needs the token that the acquire returned (field "token")`),
  longerTtl: (id: number, has: number, asked: number, state: CoordState): CoordResult =>
    coordRefused(
      id,
      'request',
      `a renew keeps the lease's ${has} ms at most (asked ${asked} ms): release and acquire again with the longer TTL`,
      state,
    ),
  notCandidate: (id: number, message: string, state: CoordState): CoordResult =>
    coordRefused(id, 'not-candidate', message, state),
  unhealthy: (id: number, instanceId: string, what: string, state: CoordState): CoordResult =>
    coordRefused(
      id,
      'unhealthy',
      `instance ${instanceId} is marked unhealthy by the health engine, and ${what} would be freed at once (releaseOnUnhealthy): acquire it again once the instance passes its health checks, or acquire with releaseOnUnhealthy false`,
      state,
    ),
};
