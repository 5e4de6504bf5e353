import { type Endpoint, type Routes, resolvePolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { applyDelta } from '../control/routes-delta.js';
import { RouteTable } from './route-table.js';
import type { RuntimeDeps } from './service-runtime.js';

// A table that cannot be built is refused and the table in force stays: it must stay as it was (review of the
// growth slice, finding 2: the delta path closed removed services and changed the previous table's maps before
// the step that threw, and a delta adding a service named "constructor" threw on a plain-object lookup).

const ep = (id: string, host: string, weight = 1): Endpoint => ({ id, host, port: 15006, tier: 0, weight, labels: {} });
const deps = (): RuntimeDeps => ({ random: () => 0, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined });
const outlier = resolvePolicy({ outlierDetection: { consecutiveFailures: 1 } });
const ring = resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 16 } });
const full: Routes = {
  type: 'routes',
  version: 1,
  nonce: 'n1',
  services: {
    orders: { endpoints: [ep('o-1', '10.0.0.1')] },
    billing: { endpoints: [ep('b-1', '10.0.0.2'), ep('b-2', '10.0.0.3')], policy: outlier },
  },
};
/** A ring whose only member has weight 0: the policy resolves and fits the budget, the balancer build throws. */
const boom = { endpoints: [ep('x-1', '10.0.0.8', 0)], policy: ring };

function delta(services: Routes['services'], removed?: string[]): Routes {
  const r = applyDelta(full, { type: 'routes', version: 2, baseVersion: 1, nonce: 'n2', services, removed });
  if (!r.ok) throw new Error(r.error);
  return r.routes;
}

/** The full table again (the control plane's answer to a NACK), installed over `t1`. */
const resync = (t1: RouteTable, d: RuntimeDeps): RouteTable =>
  new RouteTable({ ...full, version: 3, nonce: 'n3', services: { ...full.services } }, 'control-plane', 2, d, t1);

describe('RouteTable: a table that cannot be built', () => {
  it('a delta adding a service named "constructor" installs, as a full table with it does', () => {
    const d = deps();
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const routes = delta({ constructor: { endpoints: [ep('c-1', '10.0.0.9')] } });
    const t2 = new RouteTable(routes, 'control-plane', 1, d, t1);
    expect(t2.service('constructor')?.endpoints.map((e) => e.id)).toEqual(['c-1']);
    expect([...t2.origins()].sort()).toEqual(['10.0.0.1:15006', '10.0.0.2:15006', '10.0.0.3:15006', '10.0.0.9:15006']);
    expect(t1.service('constructor')).toBeUndefined();
    expect(t1.serviceNames()).toEqual(['billing', 'orders']);
    t2.close();
  });

  it('a refused delta leaves the services of the table in force open and unchanged (a resync reuses them)', () => {
    const d = deps();
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const routes = delta({ orders: { endpoints: [ep('o-9', '10.0.0.99')] }, boom }, ['billing']);
    expect(() => new RouteTable(routes, 'control-plane', 1, d, t1)).toThrow(/weight/);
    expect(t1.service('orders')?.endpoints.map((e) => e.id)).toEqual(['o-1']);
    expect(t1.service('boom')).toBeUndefined();
    const t2 = resync(t1, d);
    const billing = t2.service('billing');
    billing?.outcome('b-1', true);
    expect([...(billing?.ejected ?? [])]).toEqual(['b-1']);
    t2.close();
  });

  it('a refused delta whose changed service throws puts the services it updated back', () => {
    const d = deps();
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const routes = delta({ orders: { endpoints: [ep('o-9', '10.0.0.99')] }, billing: boom });
    expect(() => new RouteTable(routes, 'control-plane', 1, d, t1)).toThrow(/weight/);
    expect(t1.service('orders')?.endpoints.map((e) => e.id)).toEqual(['o-1']);
    expect(t1.service('billing')?.endpoints.map((e) => e.id)).toEqual(['b-1', 'b-2']);
    const t2 = resync(t1, d);
    t2.service('billing')?.outcome('b-2', true);
    expect([...(t2.service('billing')?.ejected ?? [])]).toEqual(['b-2']);
    expect(t2.service('orders')?.lb.pick({})?.id).toBe('o-1');
    t2.close();
  });
});
