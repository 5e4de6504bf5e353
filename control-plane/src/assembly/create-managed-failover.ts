import type { Clock } from '@meshlet/shared';
import type { DecisionSink } from '../events/event-log.js';
import { ManagedFailover } from '../failover/managed/managed-failover.js';
import type { HealthEngine } from '../health/health-engine.js';
import type { InstanceRoles } from '../health/instance-roles.js';
import type { PolicyStore } from '../policies/policy-store.js';
import type { Registry } from '../registry/registry.js';

/**
 * Makes the control plane's managed failover over its registry, health
 * engine, policies and the instances' reported roles: an instance is
 * routable while connected and routed healthy, and takes part with the
 * priority its hello said (`failoverPriority`).
 */
export function createManagedFailover(ctx: {
  /** Read lazily: the registry is made after this. */
  registry: Pick<Registry, 'serviceNames' | 'agents'>;
  health: Pick<HealthEngine, 'routed'>;
  policies: Pick<PolicyStore, 'policyOf' | 'configured'>;
  roles: InstanceRoles;
  events: DecisionSink;
  clock: Clock;
  onChange: () => void;
}): ManagedFailover {
  const { registry, health, policies } = ctx;
  const policyOf = (service: string) => {
    const f = policies.policyOf(service).failover;
    return f?.mode === 'managed' ? f : undefined;
  };
  return new ManagedFailover({
    roles: ctx.roles,
    policyOf,
    services: () =>
      [...new Set([...registry.serviceNames(), ...policies.configured()])].filter((s) => policyOf(s) !== undefined),
    members: (service) =>
      registry.agents().flatMap((r) => {
        const i = r.instance;
        if (i?.service !== service) return [];
        const routed = health.routed(r);
        const routable = r.connected && (routed === undefined || routed === 'healthy');
        return [{ id: i.id, routable, priority: i.failoverPriority }];
      }),
    events: ctx.events,
    clock: ctx.clock,
    onChange: ctx.onChange,
  });
}
