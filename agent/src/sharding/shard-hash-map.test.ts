import type { IncomingMessage } from 'node:http';
import type { Endpoint, Routes } from '@meshlet/shared';
import { hashString } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { requestHash } from '../route/request-hash.js';
import { RouteTable } from '../route/route-table.js';
import { shardChange } from './shard-change.js';
import { HashShardProvider } from './shard-hash-provider.js';
import { HASH_SPACE } from './shard-hash-ranges.js';
import type { ShardMap } from './shard-map.js';

const ep = (i: number, weight = 200): Endpoint => ({
  id: `cache-${String(i).padStart(2, '0')}`,
  host: '10.0.0.1',
  port: 20000 + i,
  tier: 0,
  weight,
  labels: { n: String(i) },
  zone: 'z1',
});

/** A table of one hash-balanced service whose ring is all its endpoints, as the control plane publishes it. */
function table(kind: 'ring_hash' | 'maglev', endpoints: Endpoint[], version: number, extra = {}): RouteTable {
  const routes: Routes = {
    type: 'routes',
    version,
    nonce: `n${version}`,
    services: {
      cache: {
        endpoints,
        policy: { balancer: { kind, hashKey: { source: 'header', name: 'x-user' }, ...extra } } as never,
        ring: { version, members: endpoints.map((e) => ({ id: e.id, weight: e.weight })) },
      },
      plain: { endpoints: [ep(1)] },
    },
  };
  return new RouteTable(routes, 'control-plane', 0, {
    random: () => 0.5,
    clock: () => 0,
    stats: new EndpointStatsMap(),
    zone: undefined,
  });
}

async function mapOf(t: RouteTable): Promise<ShardMap> {
  const r = await new HashShardProvider().mapOf('cache', t);
  if (r === undefined || !('map' in r)) throw new Error('no map');
  return r.map;
}

// Weights of 200: the nine left after a removal still add up to the ring's minimum size (1024), so the survivors keep
// their points (see buildRing) and only the removed member's keys move.
const ten = Array.from({ length: 10 }, (_, i) => ep(i));
const keys = Array.from({ length: 5000 }, (_, i) => `user-${i}`);

describe.each(['ring_hash', 'maglev'] as const)('the %s shard map', (kind) => {
  it('names, for every key, the endpoint the balancer picks for a request carrying that key', async () => {
    const t = table(kind, ten, 5);
    const map = await mapOf(t);
    const lb = t.service('cache')?.lb;
    for (const key of keys) {
      const l = map.lookup(key);
      const req = { headers: { 'x-user': key }, socket: {} } as unknown as IncomingMessage;
      const hash = requestHash(req, '/', { source: 'header', name: 'x-user' });
      expect(l.hash).toBe(hash);
      expect(l.owner?.instanceId).toBe(lb?.pick({ hash })?.id);
      expect(map.routedTo(key, t)).toBe(l.owner?.instanceId);
    }
    expect(map.lookup('user-1').owner).toMatchObject({ host: '10.0.0.1', zone: 'z1' });
  });

  it('a non-ASCII key: the shard API (?key=, UTF-8) and a request carrying it in a header (bytes read as Latin-1) agree', async () => {
    const t = table(kind, ten, 5);
    const map = await mapOf(t);
    const lb = t.service('cache')?.lb;
    for (const key of ['ö-tenant', 'straße-9', '日本-1', 'emoji-😀', 'user-1']) {
      // What node hands over for the header's UTF-8 bytes: one Latin-1 character per byte.
      const wire = Buffer.from(key, 'utf8').toString('latin1');
      const req = { headers: { 'x-user': wire }, socket: {} } as unknown as IncomingMessage;
      const hash = requestHash(req, '/', { source: 'header', name: 'x-user' });
      const l = map.lookup(key);
      expect(l.hash, key).toBe(hash);
      expect(l.owner?.instanceId, key).toBe(lb?.pick({ hash })?.id);
      expect(map.routedTo(key, t), key).toBe(l.owner?.instanceId);
    }
  });

  it('reports the checksum the agent ACKs and cuts the whole space into ranges that agree with each lookup', async () => {
    const t = table(kind, ten, 5);
    const map = await mapOf(t);
    const { RingChecksums } = await import('../control/ring-checksums.js');
    const rings = new RingChecksums();
    expect(map.checksum).toBe(rings.update(t)?.cache?.checksum);
    const view = map.view();
    const size = view.space.size as number;
    expect(view.space.unit).toBe(kind === 'maglev' ? 'slot' : 'hash');
    expect(view.ranges[0]?.start).toBe(0);
    expect(view.ranges.at(-1)?.end).toBe(size - 1);
    const gaps = view.ranges.filter(
      (r, i) => i > 0 && (r.start !== (view.ranges[i - 1]?.end as number) + 1 || r.owner === view.ranges[i - 1]?.owner),
    );
    expect(gaps, 'ranges that do not follow the one before, or have its owner').toEqual([]);
    const total = view.members.reduce((s, m) => s + (m.share as number), 0);
    expect(total).toBeCloseTo(1, 9);
    for (const key of keys.slice(0, 1000)) {
      const h = hashString(key);
      const pos = kind === 'maglev' ? h % size : h;
      let lo = 0;
      let hi = view.ranges.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((view.ranges[mid]?.end as number) < pos) lo = mid + 1;
        else hi = mid;
      }
      expect(view.ranges[lo]?.owner).toBe(map.lookup(key).owner?.instanceId);
    }
    if (kind === 'ring_hash') expect(size).toBe(HASH_SPACE);
  });

  it('removing one member moves only its own parts, to the others, and the event says which keys moved', async () => {
    const before = await mapOf(table(kind, ten, 5));
    const after = await mapOf(table(kind, ten.slice(1), 6));
    const gone = 'cache-00';
    const d = after.movesSince(before);
    expect(d).toBeDefined();
    expect(d?.moves.length).toBeGreaterThan(0);
    const goneShare = before.view().members.find((m) => m.instanceId === gone)?.share as number;
    if (kind === 'ring_hash') {
      expect(new Set(d?.moves.map((m) => m.from))).toEqual(new Set([gone]));
      expect(d?.share).toBeCloseTo(goneShare, 9);
    } else {
      // Maglev moves a little more than the leaver's slots (the others' permutations fill them in another order).
      expect(
        d?.moves.filter((m) => m.from === gone).reduce((n, m) => n + (m.end as number) - (m.start as number) + 1, 0),
      ).toBe(Math.round(goneShare * (after.view().space.size as number)));
      expect(d?.share).toBeLessThan(goneShare * 1.5);
    }
    const change = shardChange('cache', before, after, { self: 'cache-03', keys });
    const movedKeys = keys.filter((k) => before.lookup(k).owner?.instanceId !== after.lookup(k).owner?.instanceId);
    expect(movedKeys.length).toBeGreaterThan(keys.length * 0.05);
    expect(movedKeys.length).toBeLessThan(keys.length * 0.15);
    expect(change?.keys?.map((k) => k.key)).toEqual(movedKeys);
    expect(change?.keys?.every((k) => k.to === after.lookup(k.key).owner?.instanceId)).toBe(true);
    if (kind === 'ring_hash') expect(change?.keys?.every((k) => k.from === gone)).toBe(true);
    expect(change?.self?.lost).toEqual(d?.moves.filter((m) => m.from === 'cache-03'));
    expect(change?.self?.gained).toEqual(d?.moves.filter((m) => m.to === 'cache-03'));
    expect(change?.from).toMatchObject({ kind, version: 5 });
    expect(change?.to).toMatchObject({ kind, version: 6 });
    // The same map again: no event.
    expect(shardChange('cache', after, after, { self: undefined, keys: [] })).toBeUndefined();
  });
});

describe('HashShardProvider', () => {
  it('leaves services that are not hash-balanced to other providers', async () => {
    expect(await new HashShardProvider().mapOf('plain', table('ring_hash', ten, 5))).toBeUndefined();
  });

  it('answers 503 for a hash-balanced service with no ring (no healthy member)', async () => {
    const t = table('maglev', ten, 5);
    delete (t.routes.services.cache as { ring?: unknown }).ring;
    const r = await new HashShardProvider().mapOf('cache', t);
    expect(r !== undefined && 'refusal' in r && r.refusal.statusCode).toBe(503);
  });

  it('builds a ring once per membership, and a Maglev table size change is a reset, not a diff', async () => {
    const p = new HashShardProvider();
    const a = await p.mapOf('cache', table('maglev', ten, 5));
    const b = await p.mapOf('cache', table('maglev', ten, 7));
    expect(a && 'map' in a && b && 'map' in b && (a.map as never as { built: unknown }).built).toBe(
      b && 'map' in b && (b.map as never as { built: unknown }).built,
    );
    const big = await mapOf(table('maglev', ten, 8, { maglevTableSize: 131071 }));
    const small = await mapOf(table('maglev', ten, 5));
    expect(big.movesSince(small)).toBeUndefined();
    expect(shardChange('cache', small, big, { self: undefined, keys: [] })).toMatchObject({ reset: true, share: 1 });
  });
});
