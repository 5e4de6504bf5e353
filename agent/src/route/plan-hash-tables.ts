import type { BalancerPolicy, Endpoint, Routes, ServicePolicy } from '@meshlet/shared';
import type { Balancer } from '../balancer/balancer.js';
import { ServiceLoadBalancer } from '../balancer/service-load-balancer.js';
import { serviceOf } from './service-of.js';

/** One hash table an install will build: the balancer settings and the members. */
export interface PlannedTable {
  policy: BalancerPolicy;
  members: readonly Endpoint[];
}

const NO_BALANCER: Balancer = { pick: () => undefined };
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The hash tables (ring or Maglev) that installing `routes` over the table
 * held will build (of the services `names` only, when given: a delta's), so that they can be built ahead in slices. A service
 * whose endpoints, serving tier and policy did not change keeps its
 * balancers and needs none. The member sets are the ones the service's
 * {@link ServiceLoadBalancer} asks for (per tier, zone and health), found by
 * running it with a balancer factory that only records what it is asked.
 */
export function planHashTables(
  routes: Routes,
  policies: ReadonlyMap<string, ServicePolicy>,
  held: Routes | undefined,
  zone: string | undefined,
  names?: readonly string[],
): PlannedTable[] {
  const out: PlannedTable[] = [];
  for (const name of names ?? Object.keys(routes.services)) {
    const s = serviceOf(routes, name);
    const policy = policies.get(name);
    if (s === undefined) continue;
    if (!policy || (policy.balancer.kind !== 'maglev' && policy.balancer.kind !== 'ring_hash')) continue;
    const before = serviceOf(held, name);
    if (before && same([before.endpoints, before.activeTier, before.policy], [s.endpoints, s.activeTier, s.policy]))
      continue;
    new ServiceLoadBalancer({
      endpoints: s.endpoints,
      policy: policy.tiers,
      zone,
      random: () => 0,
      activeTier: s.activeTier,
      makeBalancer: (members) => {
        out.push({ policy: policy.balancer, members });
        return NO_BALANCER;
      },
    });
  }
  return out;
}
