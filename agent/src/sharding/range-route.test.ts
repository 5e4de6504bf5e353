import type { IncomingMessage } from 'node:http';
import type { Endpoint, Routes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { resolveDestination } from '../route/destination.js';
import { RouteTable } from '../route/route-table.js';

const ep = (id: string, labels: Record<string, string> = {}): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1000 + Number(id.slice(-1)),
  tier: 0,
  weight: 1,
  labels,
});

const table = (balancer: 'round_robin' | 'maglev') =>
  new RouteTable(
    {
      type: 'routes',
      version: 9,
      nonce: 'n9',
      services: {
        kv: {
          endpoints: [ep('kv-1'), ep('kv-2'), ep('kv-3', { shard: 'c' }), ep('kv-4', { shard: 'c' })],
          policy: {
            balancer: { kind: balancer },
            // A route split to a subset no endpoint has: the range's owner wins over it.
            routes: [{ match: { pathPrefix: '/' }, splits: [{ subset: { none: 'x' }, weight: 1 }] }],
            sharding: {
              kind: 'range',
              key: { query: 'k' },
              compare: 'integer',
              generation: 4,
              ranges: [
                { to: 100, instance: 'kv-1' },
                { from: 100, to: 200, instance: 'kv-2' },
                { from: 300, subset: { shard: 'c' } },
              ],
            },
          },
        },
      },
    } as unknown as Routes,
    'control-plane',
    0,
    { random: Math.random, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined },
  );

const req = { method: 'GET', headers: {}, rawHeaders: [] } as unknown as IncomingMessage;
const dest = (t: RouteTable, path: string) => resolveDestination(t, req, { service: 'kv', path });

describe('routing by range', () => {
  for (const balancer of ['round_robin', 'maglev'] as const)
    it(`keeps every pick and every retry within the range's owners (${balancer})`, () => {
      const t = table(balancer);
      const owners = { '/?k=5': ['kv-1'], '/?k=150': ['kv-2'], '/?k=99999999999999999999': ['kv-3', 'kv-4'] };
      for (const [path, ids] of Object.entries(owners)) {
        const d = dest(t, path);
        if ('refusal' in d) throw new Error(d.refusal.message);
        for (let i = 0; i < 50; i++) expect(ids).toContain(d.lb.pick()?.id);
        // A retry excludes what it tried: it goes to another owner of the range, or nowhere, never outside.
        const tried = new Set<string>();
        for (let attempt = 0; attempt < 4; attempt++) {
          const e = d.lb.pick({ exclude: tried });
          if (e === undefined) break;
          expect(ids).toContain(e.id);
          tried.add(e.id);
        }
        expect([...tried].sort()).toEqual(ids);
      }
    });

  it('refuses a key in no range (404) and a bad key (400), naming the key, the service and the versions', () => {
    const t = table('round_robin');
    const gap = dest(t, '/?k=250');
    expect('refusal' in gap && gap.refusal).toMatchObject({ code: 'MESHLET_SHARD_KEY_UNROUTABLE', statusCode: 404 });
    expect('refusal' in gap && gap.refusal.message).toContain('"250"');
    expect('refusal' in gap && gap.refusal.message).toContain('generation 4, routing table version 9');
    expect('extra' in gap && gap.extra).toMatchObject({ service: 'kv', key: '250', generation: 4, tableVersion: 9 });
    for (const path of ['/', '/?k=abc', '/?k=1&k=2', `/?k=${'9'.repeat(1025)}`]) {
      const bad = dest(t, path);
      expect('refusal' in bad && bad.refusal, path).toMatchObject({
        code: 'MESHLET_SHARD_KEY_INVALID',
        statusCode: 400,
      });
    }
  });
});
