import type { FailoverState, ManagedFailoverPolicy } from '@meshlet/shared';
import { lagOf } from './failover-events.js';
import type { FailoverMember } from './rank-candidates.js';

/** A managed service's failover as operators read it. */
export interface FailoverDescription {
  service: string;
  policy: ManagedFailoverPolicy;
  state: FailoverState;
  instances: {
    id: string;
    routable: boolean;
    priority?: number;
    role?: string;
    checkHealthy?: boolean;
    replicationOffset?: number;
    lagBytes?: number;
  }[];
}

/** A managed service's failover with each instance's standing (`offset`: the reference its lags count from). */
export function describeFailover(
  service: string,
  policy: ManagedFailoverPolicy,
  state: FailoverState,
  members: FailoverMember[],
  offset: number | undefined,
): FailoverDescription {
  const instances = members.map((m) => ({
    id: m.id,
    routable: m.routable,
    ...(m.priority === undefined ? {} : { priority: m.priority }),
    ...(m.report?.role === undefined ? {} : { role: m.report.role }),
    ...(m.report === undefined ? {} : { checkHealthy: m.report.healthy }),
    ...(m.report?.replicationOffset === undefined ? {} : { replicationOffset: m.report.replicationOffset }),
    ...(lagOf(m.report, offset) === undefined ? {} : { lagBytes: lagOf(m.report, offset) }),
  }));
  return { service, policy, state, instances };
}
