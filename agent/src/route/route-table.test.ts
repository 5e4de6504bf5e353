import type { Endpoint, Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from './route-table.js';
import type { RuntimeDeps } from './service-runtime.js';

const ep = (id: string, host: string, port: number): Endpoint => ({ id, host, port, tier: 0, weight: 1, labels: {} });

const routes: Routes = {
  type: 'routes',
  version: 7,
  nonce: 'n7',
  services: {
    orders: {
      endpoints: [
        ep('o-1', '10.0.0.1', 15006),
        ep('o-2', '10.0.0.2', 15006),
        ep('o-3', '10.0.0.3', 15006),
        ep('o-4', '10.0.0.4', 15006),
      ],
    },
    billing: { endpoints: [ep('b-1', '10.0.0.1', 15006), ep('b-2', '10.0.0.9', 16006)] },
    drained: { endpoints: [] },
  },
};

const deps = (random: () => number = () => 0): RuntimeDeps => ({
  random,
  clock: () => 0,
  stats: new EndpointStatsMap(),
  zone: undefined,
});

describe('RouteTable', () => {
  it('keeps the version, nonce, source, arrival time and the table it was built from', () => {
    const t = new RouteTable(routes, 'disk', 1234, deps());
    expect(t).toMatchObject({ version: 7, nonce: 'n7', source: 'disk', receivedAt: 1234 });
    expect(t.routes).toBe(routes);
  });

  it('exposes every service with its endpoints, sorted names included', () => {
    const t = new RouteTable(routes, 'control-plane', 0, deps());
    expect(t.serviceNames()).toEqual(['billing', 'drained', 'orders']);
    expect(t.service('orders')?.name).toBe('orders');
    expect(t.service('orders')?.endpoints.map((e) => e.id)).toEqual(['o-1', 'o-2', 'o-3', 'o-4']);
    expect(t.service('drained')?.endpoints).toEqual([]);
    expect(t.service('drained')?.lb.pick()).toBeUndefined();
  });

  it('knows nothing of services outside the table, inherited object keys included', () => {
    const t = new RouteTable(routes, 'control-plane', 0, deps());
    for (const name of ['payments', 'Orders', '', 'constructor', '__proto__', 'toString'])
      expect(t.service(name)).toBeUndefined();
  });

  it('fills in the default policy where the table has none', () => {
    const t = new RouteTable(routes, 'control-plane', 0, deps());
    expect(t.service('orders')?.policy.balancer.kind).toBe('round_robin');
    expect(t.service('orders')?.policy.retries.maxRetries).toBe(2);
  });

  it('starts each balancer at an offset drawn from the injected random source', () => {
    expect(
      new RouteTable(
        routes,
        'control-plane',
        0,
        deps(() => 0),
      )
        .service('orders')
        ?.lb.pick()?.id,
    ).toBe('o-1');
    expect(
      new RouteTable(
        routes,
        'control-plane',
        0,
        deps(() => 0.5),
      )
        .service('orders')
        ?.lb.pick()?.id,
    ).toBe('o-3');
  });

  it('gives each service its own rotation', () => {
    const t = new RouteTable(routes, 'control-plane', 0, deps());
    const orders = t.service('orders')?.lb;
    const billing = t.service('billing')?.lb;
    expect([orders?.pick()?.id, orders?.pick()?.id, billing?.pick()?.id, orders?.pick()?.id]).toEqual([
      'o-1',
      'o-2',
      'b-1',
      'o-3',
    ]);
  });

  it('carries a service runtime over to the next table, and refuses an invalid policy without touching it', () => {
    const d = deps();
    const first = new RouteTable(routes, 'control-plane', 0, d);
    const runtime = first.service('orders');
    const second = new RouteTable({ ...routes, version: 8 }, 'control-plane', 0, d, first);
    expect(second.service('orders')).toBe(runtime);
    const bad = {
      ...routes,
      version: 9,
      services: { ...routes.services, orders: { endpoints: [], policy: { balancer: { kind: 'fastest' } } } },
    } as unknown as Routes;
    expect(() => new RouteTable(bad, 'control-plane', 0, d, second)).toThrow(
      /service "orders": invalid service policy: balancer.kind/,
    );
    expect(second.service('orders')?.endpoints).toHaveLength(4);
  });

  it("rebuilds a service's balancer when the active tier changes, and keeps it otherwise", () => {
    const d = deps();
    const tiered = { endpoints: [ep('p-1', '10.0.0.1', 15006), { ...ep('b-1', '10.0.0.2', 15006), tier: 1 }] };
    const first = new RouteTable(
      { ...routes, services: { orders: { ...tiered, activeTier: 1 } } },
      'control-plane',
      0,
      d,
    );
    const orders = first.service('orders');
    expect(orders?.activeTier).toBe(1);
    expect(orders?.lb.pick()?.id).toBe('b-1');
    const lb = orders?.lb;
    new RouteTable(
      { ...routes, version: 8, services: { orders: { ...tiered, activeTier: 1 } } },
      'control-plane',
      0,
      d,
      first,
    );
    expect(orders?.lb).toBe(lb);
    new RouteTable({ ...routes, version: 9, services: { orders: tiered } }, 'control-plane', 0, d, first);
    expect(orders?.activeTier).toBeUndefined();
    expect(orders?.lb.pick()?.id).toBe('p-1');
  });

  it('lists every origin once as host:port, across services', () => {
    const t = new RouteTable(routes, 'control-plane', 0, deps());
    expect([...t.origins()].sort()).toEqual([
      '10.0.0.1:15006',
      '10.0.0.2:15006',
      '10.0.0.3:15006',
      '10.0.0.4:15006',
      '10.0.0.9:16006',
    ]);
  });

  it('has no services and no origins for an empty table', () => {
    const t = new RouteTable({ type: 'routes', version: 1, nonce: 'n', services: {} }, 'control-plane', 0, deps());
    expect(t.serviceNames()).toEqual([]);
    expect(t.origins().size).toBe(0);
  });
});
