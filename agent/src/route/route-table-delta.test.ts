import { type Endpoint, type Routes, resolvePolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { applyDelta, deltaOrigin } from '../control/routes-delta.js';
import { resolveTable } from './resolved-table.js';
import { RouteTable } from './route-table.js';
import type { RuntimeDeps } from './service-runtime.js';

// A table made by a delta installs in proportion to the delta: these pin
// down that it still answers exactly as a full install of the same table.

const ep = (id: string, host: string, port = 15006, extra: Partial<Endpoint> = {}): Endpoint => ({
  id,
  host,
  port,
  tier: 0,
  weight: 1,
  labels: {},
  ...extra,
});

const full: Routes = {
  type: 'routes',
  version: 1,
  nonce: 'n1',
  services: {
    orders: { endpoints: [ep('o-1', '10.0.0.1'), ep('o-2', '10.0.0.2')] },
    billing: { endpoints: [ep('b-1', '10.0.0.1'), ep('b-2', '10.0.0.9', 16006)] },
    search: {
      endpoints: [ep('s-1', '10.0.0.5')],
      policy: resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 64 } }),
    },
  },
};

const deps = (): RuntimeDeps => ({ random: () => 0, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined });

function merged(held: Routes, delta: Omit<Routes, 'type' | 'nonce' | 'version' | 'baseVersion'>): Routes {
  const r = applyDelta(held, {
    type: 'routes',
    version: held.version + 1,
    baseVersion: held.version,
    nonce: `n${held.version + 1}`,
    ...delta,
  });
  if (!r.ok) throw new Error(r.error);
  return r.routes;
}

describe('RouteTable over a delta', () => {
  it('records what a delta changed and removed over the table held', () => {
    const next = merged(full, {
      services: { orders: full.services.orders!, pay: { endpoints: [] } },
      removed: ['search', 'gone'],
    });
    const origin = deltaOrigin(next);
    expect(origin?.base).toBe(full);
    expect({ changed: origin?.changed, removed: origin?.removed }).toEqual({
      changed: ['orders', 'pay'],
      removed: ['search'],
    });
    expect(deltaOrigin(full)).toBeUndefined();
  });

  it('keeps the runtimes of untouched services, updates changed ones, closes removed ones, as a full install would', () => {
    const d = deps();
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const billing = t1.service('billing');
    const search = t1.service('search');
    const next = merged(full, {
      services: {
        orders: { endpoints: [ep('o-1', '10.0.0.1'), ep('o-3', '10.0.0.3')] },
        pay: { endpoints: [ep('p-1', '10.0.0.7')] },
      },
      removed: ['search'],
    });
    const t2 = new RouteTable(next, 'control-plane', 1, d, t1);
    const fresh = new RouteTable(next, 'control-plane', 1, deps());
    expect(t2.serviceNames()).toEqual(fresh.serviceNames());
    expect([...t2.origins()].sort()).toEqual([...fresh.origins()].sort());
    expect(t2.service('billing')).toBe(billing);
    expect(t2.service('orders')?.endpoints.map((e) => e.id)).toEqual(['o-1', 'o-3']);
    expect(t2.service('pay')?.endpoints.map((e) => e.id)).toEqual(['p-1']);
    expect(t2.service('search')).toBeUndefined();
    // The table it replaced still answers for its own services (a request that took it before the install).
    expect(t1.service('search')).toBe(search);
    expect(t1.service('pay')).toBeUndefined();
    expect(t1.serviceNames()).toEqual(['billing', 'orders', 'search']);
    expect([...t1.origins()].sort()).toEqual(['10.0.0.1:15006', '10.0.0.2:15006', '10.0.0.5:15006', '10.0.0.9:16006']);
    fresh.close();
    t2.close();
  });

  it('keeps the origins of a health change, and drops an origin no endpoint uses any more', () => {
    const d = deps();
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const o1 = t1.origins();
    const health = merged(full, {
      services: {
        orders: { endpoints: [ep('o-1', '10.0.0.1', 15006, { health: 'unhealthy' }), ep('o-2', '10.0.0.2')] },
      },
    });
    const t2 = new RouteTable(health, 'control-plane', 1, d, t1);
    expect(t2.origins()).toBe(o1);
    const gone = merged(health, { services: { billing: { endpoints: [ep('b-1', '10.0.0.1')] } } });
    const t3 = new RouteTable(gone, 'control-plane', 2, d, t2);
    expect([...t3.origins()].sort()).toEqual(['10.0.0.1:15006', '10.0.0.2:15006', '10.0.0.5:15006']);
    t3.close();
  });

  it('refuses a delta whose policy is invalid, or that takes the table over budget, before changing anything', () => {
    const d = { ...deps(), tableBudget: { maxHashEntries: 1000, maxServices: 10, maxEndpoints: 100 } };
    const t1 = new RouteTable(full, 'control-plane', 0, d);
    const bad = merged(full, {
      services: { orders: { endpoints: [], policy: { balancer: { kind: 'nope' } } as never } },
    });
    expect(() => new RouteTable(bad, 'control-plane', 1, d, t1)).toThrow(/service "orders"/);
    const big = merged(full, {
      services: {
        orders: { endpoints: [], policy: resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 65537 } }) },
      },
    });
    expect(() => new RouteTable(big, 'control-plane', 1, d, t1)).toThrow(/tableBudget.maxHashEntries/);
    expect(t1.service('orders')?.endpoints).toHaveLength(2);
    const ok = new RouteTable(merged(full, { services: {} }), 'control-plane', 1, d, t1);
    expect(ok.serviceNames()).toEqual(['billing', 'orders', 'search']);
    ok.close();
  });

  it('counts the totals of a delta as over the whole table', () => {
    const next = merged(full, {
      services: {
        search: {
          endpoints: [ep('s-1', '10.0.0.5'), ep('s-2', '10.0.0.6')],
          policy: resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 101 } }),
        },
      },
      removed: ['billing'],
    });
    resolveTable(full);
    const incremental = resolveTable(next);
    const whole = resolveTable({ ...next, services: { ...next.services } });
    expect(incremental.delta).toBeDefined();
    expect(whole.delta).toBeUndefined();
    expect([incremental.endpoints, incremental.entries, incremental.policies.size]).toEqual([
      whole.endpoints,
      whole.entries,
      whole.policies.size,
    ]);
    expect(incremental.policies.get('search')?.balancer.kind).toBe('maglev');
    expect(incremental.policies.get('billing')).toBeUndefined();
  });
});
