import { type Endpoint, type Routes, resolvePolicy, type ServicePolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { planHashTables } from './plan-hash-tables.js';

const ep = (id: string, tier = 0, health?: 'unhealthy'): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1,
  tier,
  weight: 1,
  labels: {},
  ...(health ? { health } : {}),
});
const maglev = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 251 } });

describe('planHashTables', () => {
  const routes = (services: Routes['services']): Routes => ({ type: 'routes', version: 1, nonce: 'n', services });
  const policiesOf = (r: Routes) =>
    new Map<string, ServicePolicy>(Object.entries(r.services).map(([n, s]) => [n, resolvePolicy(s.policy ?? {})]));

  it('plans one table per tier the balancer builds, over its healthy members, and none for other balancers', () => {
    const r = routes({
      orders: { endpoints: [ep('o1'), ep('o2'), ep('o3', 0, 'unhealthy'), ep('o4', 1)], policy: maglev },
      users: { endpoints: [ep('u1')] },
    });
    const plan = planHashTables(r, policiesOf(r), undefined, undefined);
    expect(plan.map((t) => t.members.map((m) => m.id))).toEqual([['o1', 'o2'], ['o4']]);
    expect(plan.every((t) => t.policy.kind === 'maglev')).toBe(true);
  });

  it('plans nothing for a service whose endpoints, tier and policy did not change', () => {
    const before = routes({ orders: { endpoints: [ep('o1')], policy: maglev } });
    const same = routes({ orders: { endpoints: [ep('o1')], policy: maglev } });
    expect(planHashTables(same, policiesOf(same), before, undefined)).toEqual([]);
    const grown = routes({ orders: { endpoints: [ep('o1'), ep('o2')], policy: maglev } });
    expect(planHashTables(grown, policiesOf(grown), before, undefined)).toHaveLength(1);
  });
});
