import type { IncomingMessage } from 'node:http';
import type { Endpoint, Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { resolveDestination } from '../route/destination.js';
import { RouteTable } from '../route/route-table.js';

const ep = (id: string): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1000 + Number(id.slice(-1)),
  tier: 0,
  weight: 1,
  labels: {},
});

const deps = { random: Math.random, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined };
const routes = (version: number, ranges: unknown[]): Routes =>
  ({
    type: 'routes',
    version,
    nonce: `n${version}`,
    services: {
      kv: {
        endpoints: [ep('kv-1'), ep('kv-2')],
        policy: { sharding: { kind: 'range', key: { header: 'x-key' }, ranges } },
      },
    },
  }) as unknown as Routes;

const req = { method: 'POST', headers: { 'x-key': 'a' }, rawHeaders: ['x-key', 'a'] } as unknown as IncomingMessage;

describe('a range-sharded request that waits while its range moves', () => {
  it('a request routed before a move picks the new owner for every attempt made after the table that moved it', () => {
    let current = new RouteTable(routes(1, [{ to: 'h', instance: 'kv-1' }]), 'control-plane', 0, deps);
    const d = resolveDestination(current, req, { service: 'kv', path: '/' }, () => current);
    if ('refusal' in d) throw new Error(d.refusal.message);
    expect(d.lb.pick()?.id).toBe('kv-1');
    const range = d.range;
    if (range === undefined) throw new Error('a range-sharded destination follows its range');
    // Same table: the same selection.
    expect(range.current()).toBe(d.lb);
    // [-inf, h) moves to kv-2 while the request waits (breaker queue, backoff): the next attempt goes to kv-2.
    current = new RouteTable(routes(2, [{ to: 'h', instance: 'kv-2' }]), 'control-plane', 0, deps, current);
    const moved = range.current();
    expect('refusal' in moved).toBe(false);
    expect('pick' in moved && moved.pick()?.id).toBe('kv-2');
    // The range is taken out (a gap): the usual unroutable answer.
    current = new RouteTable(routes(3, [{ from: 'h', instance: 'kv-2' }]), 'control-plane', 0, deps, current);
    const gap = range.current();
    expect('refusal' in gap && gap.refusal).toMatchObject({ code: 'MESHLET_SHARD_KEY_UNROUTABLE', statusCode: 404 });
  });
});
