import type { IncomingMessage } from 'node:http';
import type { Endpoint, Routes, ShardingPolicy } from '@meshlet/shared';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerShardRoutes } from '../admin/shard-routes.js';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { resolveDestination } from '../route/destination.js';
import { requestHash } from '../route/request-hash.js';
import { RouteTable } from '../route/route-table.js';
import { rangeOwner } from './range-owner.js';
import { shardChange } from './shard-change.js';
import { HashShardProvider } from './shard-hash-provider.js';
import type { ShardMap } from './shard-map.js';
import { ShardMaps } from './shard-maps.js';
import { RangeShardMap } from './shard-range-map.js';
import { RangeShardProvider } from './shard-range-provider.js';

const ep = (id: string, labels: Record<string, string> = {}): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1000 + Number(id.slice(-1)),
  tier: 0,
  weight: 1,
  labels,
});
const endpoints = [
  ep('kv-1'),
  ep('kv-2'),
  ep('kv-3', { shard: 'c' }),
  ep('kv-4', { shard: 'c' }),
  ep('kv-5', { shard: 'd' }),
];

const STRINGS: ShardingPolicy = {
  kind: 'range',
  key: { header: 'x-key' },
  compare: 'string',
  ranges: [
    { to: 'h', instance: 'kv-1' },
    { from: 'h', to: 'q', instance: 'kv-2' },
    { from: 't', subset: { shard: 'c' } },
  ],
};
const INTEGERS: ShardingPolicy = {
  kind: 'range',
  key: { query: 'k' },
  compare: 'integer',
  generation: 4,
  ranges: [
    { to: 100, instance: 'kv-1' },
    { from: '100', to: 200, instance: 'kv-2' },
    { from: 300, subset: { shard: 'c' } },
  ],
};

/** A table of `kv` (range-sharded by `sharding`, balanced by `balancer`) and `plain` (not sharded). */
const table = (sharding: ShardingPolicy, version = 9, balancer: string | Record<string, unknown> = 'maglev') =>
  new RouteTable(
    {
      type: 'routes',
      version,
      nonce: `n${version}`,
      services: {
        kv: { endpoints, policy: { balancer: typeof balancer === 'string' ? { kind: balancer } : balancer, sharding } },
        plain: { endpoints: [ep('p-1')] },
      },
    } as unknown as Routes,
    'control-plane',
    0,
    { random: () => 0.5, clock: () => 0, stats: new EndpointStatsMap(), zone: undefined },
  );

async function mapOf(t: RouteTable): Promise<RangeShardMap> {
  const r = await new RangeShardProvider().mapOf('kv', t);
  if (r === undefined || !('map' in r)) throw new Error('no map');
  return r.map as RangeShardMap;
}

const letters = 'abcdefghijklmnopqrstuvwxyz';
const stringKeys = [
  '',
  'a',
  'g~',
  'h',
  'p',
  'pzzz',
  'q',
  'r',
  's~',
  't',
  'zz',
  'ÿ',
  ...Array.from({ length: 2000 }, (_, i) => `${letters[i % 26]}${letters[(i * 7) % 26]}${i}`),
];
const integerKeys = ['-5', '0', '99', '100', '199', '200', '250', '299', '300', '1e3', 'abc', '99999999999999999999'];
for (let i = -50; i < 450; i += 3) integerKeys.push(String(i));

describe('the range shard map', () => {
  it.each([
    ['string', STRINGS, stringKeys],
    ['integer', INTEGERS, integerKeys],
  ] as const)('answers, for every key (compare %s), the range and owner rangeOwner gives', async (_, policy, keys) => {
    const t = table(policy);
    const map = await mapOf(t);
    for (const key of keys.filter((k) => k !== '')) {
      const want = rangeOwner(policy, key);
      const got = map.lookup(key);
      if (!want.ok) {
        expect(got.owner, key).toBeNull();
        expect(got.reason, key).toBe(want.message);
        continue;
      }
      expect(got.index, key).toBe(want.index);
      if ('instance' in want.owner) {
        expect(got.owner?.instanceId, key).toBe(want.owner.instance);
        expect(got.members, key).toEqual([want.owner.instance]);
      } else {
        expect(got.owner, key).toBeNull();
        expect(got.subset, key).toEqual(want.owner.subset);
        expect(got.members, key).toEqual(['kv-3', 'kv-4']);
      }
      // routedTo is where the data path sends a request with that key: an owner of its range.
      const routed = map.routedTo(key, t);
      expect(got.members, key).toContain(routed);
      if (got.owner !== null) expect(routed, key).toBe(got.owner.instanceId);
    }
  });

  it('routedTo equals the pick of the data path for a request carrying the key, subset owners included', async () => {
    // A hash balancer whose hashKey reads the shard key: a subset owner's pick is the key's, as a request's is.
    const hashKey = { source: 'query', name: 'k' } as const;
    const t = table(INTEGERS, 9, { kind: 'maglev', hashKey });
    const map = await mapOf(t);
    const req = { method: 'GET', headers: {}, rawHeaders: [] } as unknown as IncomingMessage;
    let subsets = 0;
    for (const key of integerKeys) {
      const path = `/?k=${encodeURIComponent(key)}`;
      const d = resolveDestination(t, req, { service: 'kv', path });
      const routed = map.routedTo(key, t);
      if ('refusal' in d) {
        expect(routed, key).toBeNull();
        continue;
      }
      if (map.lookup(key).owner === null) subsets++;
      expect(routed, key).toBe(d.lb.pick({ hash: requestHash(req, path, hashKey) })?.id);
    }
    expect(subsets).toBeGreaterThan(10);
  });

  it('routedTo and the candidates move no balancer on: API lookups do not shift round robin', async () => {
    const t = table(STRINGS, 9, 'round_robin');
    const map = await mapOf(t);
    const lb = t.service('kv')?.subsetLb({ shard: 'c' });
    const first = [lb?.pick()?.id, lb?.pick()?.id];
    expect([...first].sort()).toEqual(['kv-3', 'kv-4']);
    // An odd number of lookups: had each picked, the next pick would be the other one.
    for (let i = 0; i < 11; i++) {
      expect(map.routedTo('x', t)).toBeNull(); // several candidates, picked per request
      expect(map.candidates('x', t)).toEqual(['kv-3', 'kv-4']);
      expect(map.routedTo('a', t)).toBe('kv-1'); // one candidate: the instance owner
    }
    expect(lb?.pick()?.id).toBe(first[0]);
    expect(map.candidates('r', t)).toBeNull();
  });

  it('states its version (the generation), checksum, members and ranges with string bounds', async () => {
    const map = await mapOf(table(INTEGERS));
    expect(map).toMatchObject({
      kind: 'range',
      version: 4,
      tableVersion: 9,
      members: ['kv-1', 'kv-2', 'kv-3', 'kv-4'],
    });
    expect(map.checksum).toMatch(/^[0-9a-f]{16}$/);
    const view = map.view();
    expect(view.space).toEqual({ unit: 'key' });
    expect(view.ranges).toEqual([
      { start: null, end: '100', owner: 'kv-1', index: 0, members: ['kv-1'] },
      { start: '100', end: '200', owner: 'kv-2', index: 1, members: ['kv-2'] },
      { start: '300', end: null, owner: 'shard=c', index: 2, members: ['kv-3', 'kv-4'], subset: { shard: 'c' } },
    ]);
    expect(view.members.map((m) => [m.instanceId, m.share])).toEqual([
      ['kv-1', undefined],
      ['kv-2', undefined],
      ['kv-3', undefined],
      ['kv-4', undefined],
    ]);
    // The same ranges written otherwise ("100" and 100) give the same checksum; another owner another one.
    const same = await mapOf(table({ ...INTEGERS, ranges: INTEGERS.ranges.map((r) => ({ ...r })) }, 10));
    expect(same.checksum).toBe(map.checksum);
    const other = await mapOf(
      table({ ...INTEGERS, ranges: [{ to: 100, instance: 'kv-2' }, ...INTEGERS.ranges.slice(1)] }),
    );
    expect(other.checksum).not.toBe(map.checksum);
  });

  it('lists the ranges whose owner changed after a split, a move, a gap and a merge', async () => {
    const before = await mapOf(table(STRINGS, 9));
    const step = async (ranges: ShardingPolicy['ranges'], generation: number, version: number) =>
      mapOf(table({ ...STRINGS, ranges, generation }, version));
    // Split [-inf, h) at d, the upper half to kv-2: only [d, h) moves.
    const split = await step(
      [{ to: 'd', instance: 'kv-1' }, { from: 'd', to: 'h', instance: 'kv-2' }, ...STRINGS.ranges.slice(1)],
      1,
      10,
    );
    expect(split.movesSince(before)).toEqual({ moves: [{ start: 'd', end: 'h', from: 'kv-1', to: 'kv-2' }] });
    // A split that keeps the owner moves nothing, though the checksum changes.
    const noop = await step(
      [{ to: 'd', instance: 'kv-1' }, { from: 'd', to: 'h', instance: 'kv-1' }, ...STRINGS.ranges.slice(1)],
      1,
      10,
    );
    expect(noop.checksum).not.toBe(before.checksum);
    expect(noop.movesSince(before)).toEqual({ moves: [] });
    // Move [d, h) and [h, q) to the subset, fill the gap, take [-inf, d) out: compacted, in key order.
    const moved = await step(
      [
        { from: 'a', to: 'd', instance: 'kv-1' },
        { from: 'd', to: 't', subset: { shard: 'c' } },
        { from: 't', subset: { shard: 'c' } },
      ],
      2,
      11,
    );
    // [d, h) and [h, q) make one change, compacted into [d, q).
    expect(moved.movesSince(split)).toEqual({
      moves: [
        { start: null, end: 'a', from: 'kv-1', to: null },
        { start: 'd', end: 'q', from: 'kv-2', to: 'shard=c' },
        { start: 'q', end: 't', from: null, to: 'shard=c' },
      ],
    });
    // The event an app's stream gets: old and new owner of each moved part, and of each key it follows.
    const change = shardChange('kv', split, moved, { self: 'kv-2', keys: ['e', 'b'] });
    expect(change).toMatchObject({
      from: { kind: 'range', version: 1 },
      to: { kind: 'range', version: 2 },
      moves: [
        { start: null, end: 'a', from: 'kv-1', to: null },
        { start: 'd', end: 'q', from: 'kv-2', to: 'shard=c' },
        { start: 'q', end: 't', from: null, to: 'shard=c' },
      ],
      self: { instanceId: 'kv-2', gained: [], lost: [{ start: 'd', end: 'q', from: 'kv-2', to: 'shard=c' }] },
      keys: [{ key: 'e', from: 'kv-2', to: 'shard=c' }],
    });
    expect(change?.share).toBeUndefined();
    expect(change?.reset).toBeUndefined();
    // Another comparison, or a hash map: not comparable, every key may have moved.
    const integers = await mapOf(table(INTEGERS));
    expect(integers.movesSince(before)).toBeUndefined();
    expect(before.movesSince({ kind: 'maglev' } as ShardMap)).toBeUndefined();
  });
});

describe('range map events with subset owners', () => {
  it("reports a key moving between two subsets by owner name, and self from each subset's instances", async () => {
    const ranges = (shard: string): ShardingPolicy['ranges'] => [
      { to: 'h', instance: 'kv-1' },
      { from: 'h', subset: { shard } },
    ];
    const c = await mapOf(table({ ...STRINGS, ranges: ranges('c'), generation: 1 }, 10));
    const d = await mapOf(table({ ...STRINGS, ranges: ranges('d'), generation: 2 }, 11));
    const move = { start: 'h', end: null, from: 'shard=c', to: 'shard=d' };
    // kv-3 is in shard=c: it lost [h, +inf); the key x moved from one subset to the other.
    expect(shardChange('kv', c, d, { self: 'kv-3', keys: ['x', 'a'] })).toMatchObject({
      moves: [move],
      self: { instanceId: 'kv-3', gained: [], lost: [move] },
      keys: [{ key: 'x', from: 'shard=c', to: 'shard=d' }],
    });
    // kv-5 is in shard=d: it gained it.
    expect(shardChange('kv', c, d, { self: 'kv-5', keys: [] })?.self).toEqual({
      instanceId: 'kv-5',
      gained: [move],
      lost: [],
    });
    // A move from an instance to the subset it is in is no loss for it.
    const one = await mapOf(
      table(
        {
          ...STRINGS,
          ranges: [
            { to: 'h', instance: 'kv-1' },
            { from: 'h', instance: 'kv-3' },
          ],
        },
        12,
      ),
    );
    expect(shardChange('kv', one, c, { self: 'kv-3', keys: [] })?.self).toEqual({
      instanceId: 'kv-3',
      gained: [],
      lost: [],
    });
    expect(c.lookup('x')).toMatchObject({ owner: null, ownerName: 'shard=c', members: ['kv-3', 'kv-4'] });
  });
});

describe('the range shard provider', () => {
  it('makes maps of range-sharded services only, and is asked before the hash provider', async () => {
    const t = table(STRINGS, 9, 'maglev');
    expect(await new RangeShardProvider().mapOf('plain', t)).toBeUndefined();
    const maps = new ShardMaps([new RangeShardProvider(), new HashShardProvider()]);
    const r = await maps.resolve('kv', t);
    expect(r !== undefined && 'map' in r && r.map.kind).toBe('range');
  });

  it('answers the shard routes: a key in no range 404 as on the data path, a bad key 400', async () => {
    const t = table(INTEGERS);
    const app = Fastify();
    registerShardRoutes(app, { table: () => t, maps: new ShardMaps([new RangeShardProvider()]) });
    try {
      const one = await app.inject({ url: '/v1/shards/kv?key=150' });
      expect(one.statusCode).toBe(200);
      expect(one.json()).toMatchObject({
        service: 'kv',
        key: '150',
        kind: 'range',
        owner: { instanceId: 'kv-2', host: '127.0.0.1' },
        range: { from: '100', to: '200' },
        index: 1,
        members: ['kv-2'],
        routedTo: 'kv-2',
        map: { version: 4 },
        tableVersion: 9,
      });
      const subset = (await app.inject({ url: '/v1/shards/kv?key=301' })).json();
      expect(subset).toMatchObject({ owner: null, subset: { shard: 'c' }, members: ['kv-3', 'kv-4'] });
      expect(['kv-3', 'kv-4']).toContain(subset.routedTo);
      const gap = await app.inject({ url: '/v1/shards/kv?key=250' });
      expect(gap.statusCode).toBe(404);
      expect(gap.json().error).toMatchObject({
        code: 'MESHLET_SHARD_KEY_UNROUTABLE',
        service: 'kv',
        key: '250',
        generation: 4,
        tableVersion: 9,
      });
      for (const key of ['abc', '9'.repeat(1025)]) {
        const bad = await app.inject({ url: `/v1/shards/kv?key=${key}` });
        expect(bad.statusCode, key).toBe(400);
        expect(bad.json().error.code).toBe('MESHLET_SHARD_KEY_INVALID');
        expect(bad.body).not.toContain('9'.repeat(1025));
      }
      // Many keys: one in no range has no owner; a bad one refuses the lookup, naming it.
      const many = await app.inject({
        method: 'POST',
        url: '/v1/shards/kv/lookup',
        payload: { keys: ['5', '250', '150'] },
      });
      expect(many.json()).toMatchObject({ owners: ['kv-1', null, 'kv-2'], routedTo: ['kv-1', null, 'kv-2'] });
      const badMany = await app.inject({ method: 'POST', url: '/v1/shards/kv/lookup', payload: { keys: ['5', 'x'] } });
      expect(badMany.statusCode).toBe(400);
      expect(badMany.json().error).toMatchObject({ code: 'MESHLET_SHARD_KEY_INVALID', field: 'keys[1]' });
      const badStream = await app.inject({ url: '/v1/shards/kv/events?keys=5,x' });
      expect(badStream.statusCode).toBe(400);
      expect(badStream.json().error.code).toBe('MESHLET_SHARD_KEY_INVALID');
    } finally {
      await app.close();
    }
  });
});
