import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { capturedLogger } from '../listener/test-support/log-capture.js';
import { RouteTable } from '../route/route-table.js';
import { cacheEndpoint, ringTable } from '../sharding/test-support/ring-table.js';
import { ShardMaps } from '../sharding/shard-maps.js';
import { createAdminServer } from './admin-server.js';

// Weights of 400: the three left after a removal still add up to the ring's minimum size (1024), so only the leaver's keys move.
const ep = (i: number) => cacheEndpoint(i, 'cache', '127.0.0.1');
const table = (ids: number[], version: number) =>
  ringTable(ids, version, {
    prefix: 'cache',
    host: '127.0.0.1',
    policy: { balancer: { kind: 'ring_hash', hashKey: { source: 'header', name: 'x-user' } } } as never,
    extra: { plain: { endpoints: [ep(1)], policy: { balancer: { kind: 'least_request' } } as never } },
  });

describe('the shard routes of the admin listener', () => {
  let current: RouteTable | undefined = table([1, 2, 3, 4], 3);
  const maps = new ShardMaps();
  const asked: string[] = [];
  const app = createAdminServer(
    {
      agentId: 'cache-2',
      table: () => current,
      listening: () => true,
      controlPlane: () => ({ connected: true, url: 'ws://x', urls: ['ws://x'], lastClose: undefined }),
      appHealth: () => undefined,
      subscriptions: () => ({ declared: [], learned: [] }),
      ringChecksums: () => undefined,
      shards: {
        maps,
        self: 'cache-2',
        heartbeatMs: 50,
        subscribe: {
          wait: (name) => {
            asked.push(name);
            return undefined;
          },
        },
      },
    },
    capturedLogger().root,
  );
  let closed = false;
  afterAll(async () => {
    if (!closed) await app.close();
  });

  it('answers one key: its hash, owner, where this agent routes it, the ring and the table version', async () => {
    const r = await app.inject({ url: '/v1/shards/cache?key=user-7' });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ service: 'cache', key: 'user-7', kind: 'ring_hash', tableVersion: 3 });
    expect(body.ring).toEqual({ version: 3, checksum: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(body.owner).toMatchObject({ host: '127.0.0.1', zone: null, labels: {} });
    expect(body.routedTo).toBe(body.owner.instanceId);
    const whole = (await app.inject({ url: '/v1/shards/cache' })).json();
    expect(whole.members.map((m: { instanceId: string }) => m.instanceId)).toEqual([
      'cache-1',
      'cache-2',
      'cache-3',
      'cache-4',
    ]);
    const range = whole.ranges.find((x: { start: number; end: number }) => x.start <= body.hash && body.hash <= x.end);
    expect(range.owner).toBe(body.owner.instanceId);
  });

  it('answers many keys at once, in the order asked', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `user-${i}`);
    const r = await app.inject({ method: 'POST', url: '/v1/shards/cache/lookup', payload: { keys } });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.owners).toHaveLength(500);
    const one = (await app.inject({ url: '/v1/shards/cache?key=user-42' })).json();
    expect(body.owners[42]).toBe(one.owner.instanceId);
    expect(body.hashes[42]).toBe(one.hash);
    expect(body.routedTo).toEqual(body.owners);
    expect(Object.keys(body.instances).sort()).toEqual(['cache-1', 'cache-2', 'cache-3', 'cache-4']);
  });

  it.each([
    ['/v1/shards/cache?key=', 400, 'MESHLET_BAD_REQUEST', 'key'],
    ['/v1/shards/cache?key=a&key=b', 400, 'MESHLET_BAD_REQUEST', 'key'],
    ['/v1/shards/Not_A_Name?key=a', 400, 'MESHLET_BAD_REQUEST', 'service'],
    ['/v1/shards/plain?key=a', 409, 'MESHLET_NOT_SHARDED', undefined],
    ['/v1/shards/nowhere?key=a', 404, 'MESHLET_UNKNOWN_SERVICE', undefined],
  ])('GET %s: %i %s', async (url, status, code, field) => {
    const r = await app.inject({ url });
    expect(r.statusCode).toBe(status);
    expect(r.json().error.code).toBe(code);
    if (field) expect(r.json().error.field).toBe(field);
  });

  it('names the balancer and the fix for a service that is not hash-balanced, and subscribes to an unknown one', async () => {
    const r = (await app.inject({ url: '/v1/shards/plain' })).json();
    expect(r.error).toMatchObject({ service: 'plain', balancer: 'least_request' });
    expect(r.error.message).toMatch(/balanced by least_request.*ring_hash.*maglev/);
    await app.inject({ url: '/v1/shards/newcomer' });
    expect(asked).toContain('newcomer');
  });

  it('refuses a lookup of no keys, too many keys or a key that is not a string, naming the field', async () => {
    const post = (payload: unknown) =>
      app.inject({ method: 'POST', url: '/v1/shards/cache/lookup', payload: payload as object });
    expect((await post({})).json().error.field).toBe('keys');
    expect((await post({ keys: Array.from({ length: 10_001 }, (_, i) => `k${i}`) })).json().error.message).toMatch(
      /at most 10000/,
    );
    expect((await post({ keys: ['a', 7] })).json().error.field).toBe('keys[1]');
  });

  it('a page of another site that rebinds its DNS name to 127.0.0.1 cannot read the shard map (403 MESHLET_HOST_NOT_ALLOWED)', async () => {
    const r = await app.inject({ url: '/v1/shards/cache', headers: { host: 'attacker.example:15000' } });
    expect(r.statusCode).toBe(403);
    expect(r.json().error.code).toBe('MESHLET_HOST_NOT_ALLOWED');
  });

  it('a lookup body over 4 MiB is refused before it is parsed (413), and a stream may follow at most 1000 keys', async () => {
    const big = JSON.stringify({ keys: Array.from({ length: 5000 }, (_, i) => `${i}-${'k'.repeat(1000)}`) });
    const r = await app.inject({
      method: 'POST',
      url: '/v1/shards/cache/lookup',
      headers: { 'content-type': 'application/json' },
      payload: big,
    });
    expect(r.statusCode).toBe(413);
    expect(r.json().error.code).toBe('MESHLET_BAD_REQUEST');
    const many = Array.from({ length: 1001 }, (_, i) => `k${i}`).join(',');
    const s = await app.inject({ url: `/v1/shards/cache/events?keys=${many}` });
    expect(s.statusCode).toBe(400);
    expect(s.json().error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', field: 'keys' });
  });

  it('streams the baseline, then every move of a ring change with old and new owners, its own parts and the keys asked', async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const events: Array<{ event: string; data: any }> = [];
    let text = '';
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
      get({ host: '127.0.0.1', port, path: `/v1/shards/cache/events?keys=${keys.join(',')}` }, resolve),
    );
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      for (let i = text.indexOf('\n\n'); i >= 0; i = text.indexOf('\n\n')) {
        const block = text.slice(0, i);
        text = text.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    });
    const until = async (n: number) => {
      for (let i = 0; i < 200 && events.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    expect(events[0]?.event).toBe('map');
    expect(events[0]?.data).toMatchObject({
      service: 'cache',
      version: 3,
      members: ['cache-1', 'cache-2', 'cache-3', 'cache-4'],
    });
    expect(events[0]?.data.self.ranges.every((r: { owner: string }) => r.owner === 'cache-2')).toBe(true);
    const ownersBefore = new Map(events[0]?.data.keys.map((k: { key: string; owner: string }) => [k.key, k.owner]));

    current = table([1, 2, 4], 9);
    maps.onTable(current);
    await until(2);
    const moved = events[1];
    expect(moved?.event).toBe('moved');
    expect(moved?.data.from).toMatchObject({ version: 3 });
    expect(moved?.data.to).toMatchObject({ version: 9, tableVersion: 9 });
    expect(new Set(moved?.data.moves.map((m: { from: string }) => m.from))).toEqual(new Set(['cache-3']));
    expect(moved?.data.self.lost).toEqual([]);
    expect(moved?.data.self.gained.length).toBeGreaterThan(0);
    const changed = keys.filter((k) => ownersBefore.get(k) === 'cache-3');
    expect(moved?.data.keys.map((k: { key: string }) => k.key)).toEqual(changed);
    expect(
      moved?.data.keys.every((k: { from: string; to: string }) => k.from === 'cache-3' && k.to !== 'cache-3'),
    ).toBe(true);

    // The same ring in a newer table: nothing moved, no event; the service leaving: an event to no map.
    maps.onTable(table([1, 2, 4], 9));
    current = undefined;
    const gone = new RouteTable({ type: 'routes', version: 11, nonce: 'n11', services: {} }, 'control-plane', 0, {
      random: () => 0.5,
      clock: () => 0,
      stats: new EndpointStatsMap(),
      zone: undefined,
    });
    maps.onTable(gone);
    await until(3);
    expect(events[2]?.data).toMatchObject({ to: null, reset: true, share: 1 });
    expect(events[2]?.data.reason).toMatch(/left the routing table \(version 11\)/);
    res.destroy();
    for (let i = 0; i < 200 && maps.watching > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(maps.watching).toBe(0);
  });

  it('an open event stream does not keep the admin listener from closing (the agent from stopping)', async () => {
    current = table([1, 2, 4], 12);
    const port = (app.server.address() as AddressInfo).port;
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) =>
      get({ host: '127.0.0.1', port, path: '/v1/shards/cache/events' }, resolve),
    );
    expect(res.statusCode).toBe(200);
    res.resume();
    const ended = new Promise((resolve) => res.once('close', resolve));
    closed = true;
    await app.close();
    await ended;
    expect(maps.watching).toBe(0);
  });
});
