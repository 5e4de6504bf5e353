import type { Clock, Logger } from '@meshlet/shared';
import type { WorkloadIdentity } from '../identity/workload-identity.js';
import type { AgentMetrics } from '../metrics.js';
import type { RouteTable } from '../route/route-table.js';
import type { InboundAuthzContext } from './authorize-inbound.js';
import { ownServicePolicy } from './own-service-policy.js';

/**
 * The authorization context of the agent's own `service`, read per request
 * (or TCP connection) from the table in force and the identity's trust
 * domain: what the inbound listener and the TCP services' callee side share.
 */
export function ownServiceAuthz(
  service: string,
  table: () => RouteTable | undefined,
  identity: WorkloadIdentity,
  deps: { metrics: AgentMetrics; log: Logger; clock: Clock },
): InboundAuthzContext {
  return {
    service,
    policy: () => ownServicePolicy(table()?.routes.services, service),
    trustDomain: () => identity.current()?.trustDomain ?? '',
    metrics: deps.metrics,
    log: deps.log.child({ component: 'authz' }),
    clock: deps.clock,
  };
}
