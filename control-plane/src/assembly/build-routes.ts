import type { ServiceRoutes } from '@meshlet/shared';
import type { AuthzStore } from '../authz/authz-store.js';
import type { FailoverEngine } from '../failover/failover-engine.js';
import type { ManagedFailover } from '../failover/managed/managed-failover.js';
import { tierCounts } from '../failover/tier-counts.js';
import type { HealthEngine } from '../health/health-engine.js';
import type { InstanceRoles } from '../health/instance-roles.js';
import type { PolicyStore } from '../policies/policy-store.js';
import type { Registry } from '../registry/registry.js';
import type { RingPublisher } from '../rings/ring-publisher.js';

/**
 * Attaches each service's policy in force (API, config file or defaults) to
 * its routes, and adds configured services that no instance has registered yet.
 */
export function withPolicies(
  services: Record<string, ServiceRoutes>,
  policies: Pick<PolicyStore, 'configured' | 'policyOf'>,
): Record<string, ServiceRoutes> {
  for (const name of policies.configured()) services[name] ??= { endpoints: [] };
  for (const [name, routes] of Object.entries(services)) routes.policy = policies.policyOf(name);
  return services;
}

/**
 * Marks each endpoint with the role its check reports (`Endpoint.role`) and
 * sets its `role` label to it, over a configured `role` label: the check
 * knows which instance is the primary now, the configuration only what it
 * was meant to be. Route subsets such as `{role: primary}` then follow the
 * check. An unhealthy endpoint carries no role at all, neither reported
 * (possibly stale: an agent gone without a goodbye keeps its last report)
 * nor a configured `role: primary|replica` label, so that panic routing
 * (which also uses unhealthy endpoints) never sends a role's traffic to an
 * instance no one can vouch for. Labels are copied, never changed in place
 * (they are the record's).
 */
export function markRoles(services: Record<string, ServiceRoutes>, roles: Pick<InstanceRoles, 'get'>): void {
  for (const [name, routes] of Object.entries(services)) {
    for (const endpoint of routes.endpoints) {
      if (endpoint.health === 'unhealthy') {
        delete endpoint.role;
        const configured = endpoint.labels.role;
        if (configured === 'primary' || configured === 'replica') {
          const { role: _dropped, ...rest } = endpoint.labels;
          endpoint.labels = rest;
        }
        continue;
      }
      const role = roles.get(name, endpoint.id)?.role;
      if (role === undefined) continue;
      endpoint.role = role;
      endpoint.labels = { ...endpoint.labels, role };
    }
  }
}

/** What a routing table is built from. */
export interface RouteSources {
  registry: Registry;
  health: HealthEngine;
  policies: PolicyStore;
  authz: Pick<AuthzStore, 'policyOf'>;
  failover: FailoverEngine;
  rings: RingPublisher;
  /** The roles the instances' checks report; absent: endpoints carry none. */
  roles?: InstanceRoles;
  /** Managed failover: the state of each managed service (`routes.failover`). */
  managedFailover?: Pick<ManagedFailover, 'attach'>;
}

/**
 * Builds every service's routes for the pusher: the registered endpoints with
 * the health the engine decided, the policy in force, the serving tier of a
 * multi-tier service and the ring of a hash-balanced one (`nextVersion` is the
 * version the table gets if anything changed).
 */
export function buildRoutes(sources: RouteSources, nextVersion: number): Record<string, ServiceRoutes> {
  const { registry, health, policies, authz, failover, rings, roles, managedFailover } = sources;
  const services = withPolicies(
    registry.routingServices((r) => health.routed(r)),
    policies,
  );
  if (roles) markRoles(services, roles);
  const multiTier = new Set<string>();
  for (const [name, routes] of Object.entries(services)) {
    // Only the service's own agents apply it; callers carry it too (tables are per service, not per reader), harmlessly.
    const policy = authz.policyOf(name);
    if (policy) routes.authz = policy;
    const tiers = tierCounts(routes);
    if (tiers.length > 1) {
      multiTier.add(name);
      routes.activeTier = failover.evaluate(name, tiers);
    }
    rings.attach(name, routes, routes.activeTier, nextVersion);
    managedFailover?.attach(name, routes);
  }
  failover.retain(multiTier);
  rings.retain(new Set(Object.keys(services)));
  return services;
}
