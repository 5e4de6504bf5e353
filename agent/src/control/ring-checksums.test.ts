import {
  buildMaglevTable,
  buildRing,
  type Endpoint,
  type Routes,
  resolvePolicy,
  type RingMembership,
  seededRandom,
  tableChecksum,
} from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from '../route/route-table.js';
import { RingChecksums } from './ring-checksums.js';
import { applyDelta } from './routes-delta.js';

const ep = (id: string): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} });
const deps = { random: seededRandom(1), clock: () => 0, stats: new EndpointStatsMap(), zone: undefined };

const ring = (version: number, ...ids: string[]): RingMembership => ({
  version,
  members: ids.map((id, i) => ({ id, weight: i + 1 })),
});

function table(services: Routes['services'], previous?: RouteTable): RouteTable {
  return new RouteTable({ type: 'routes', version: 1, nonce: 'n', services }, 'control-plane', 0, deps, previous);
}

describe('RingChecksums', () => {
  it("is the checksum of the table the service's hash balancer builds from the ring members", () => {
    const r = new RingChecksums();
    const cache = r.update(
      table({
        ring: {
          endpoints: [ep('a'), ep('b')],
          policy: resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 64 } }),
          ring: ring(3, 'b', 'a'),
        },
        mag: {
          endpoints: [ep('a')],
          policy: resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 251 } }),
          ring: ring(9, 'a', 'c'),
        },
        plain: { endpoints: [ep('a')], ring: ring(1, 'a') },
        noring: { endpoints: [ep('a')], policy: resolvePolicy({ balancer: { kind: 'ring_hash' } }) },
      }),
    );
    expect(cache).toEqual({
      ring: { version: 3, checksum: tableChecksum(buildRing(ring(3, 'b', 'a').members, 64)) },
      mag: { version: 9, checksum: tableChecksum(buildMaglevTable(ring(9, 'a', 'c').members, 251)) },
    });
    expect(r.current).toBe(cache);
  });

  it('computes a checksum once per ring, and again when the version, the members or the table size change', () => {
    const r = new RingChecksums();
    const policy = resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 64 } });
    const first = r.update(table({ svc: { endpoints: [], policy, ring: ring(1, 'a', 'b') } }))?.svc;
    expect(r.update(table({ svc: { endpoints: [], policy, ring: ring(1, 'a', 'b') } }))?.svc).toEqual(first);
    // Same version, other members (a control plane whose store was wiped): computed again.
    expect(r.update(table({ svc: { endpoints: [], policy, ring: ring(1, 'a', 'b', 'c') } }))?.svc).not.toEqual(first);
    const second = r.update(table({ svc: { endpoints: [], policy, ring: ring(2, 'a', 'b', 'c') } }))?.svc;
    expect(second).toEqual({ version: 2, checksum: tableChecksum(buildRing(ring(2, 'a', 'b', 'c').members, 64)) });
    const bigger = r.update(
      table({
        svc: {
          endpoints: [],
          policy: resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 128 } }),
          ring: ring(2, 'a', 'b', 'c'),
        },
      }),
    )?.svc;
    expect(bigger?.checksum).not.toBe(second?.checksum);
  });

  it('is undefined when no service has a hash-balanced ring', () => {
    const r = new RingChecksums();
    r.update(
      table({ svc: { endpoints: [], policy: resolvePolicy({ balancer: { kind: 'maglev' } }), ring: ring(1, 'a') } }),
    );
    expect(r.update(table({ svc: { endpoints: [] } }))).toBeUndefined();
    expect(r.current).toBeUndefined();
  });
});

// A published ring of a 655373-slot Maglev service: its checksum was built at
// once in the install, on the request path, after the balancers' own tables
// had been built in slices.

describe('RingChecksums.prepare', () => {
  it('computes the checksum of a 655373-slot Maglev ring ahead in slices (a timer fires meanwhile); the install takes it', async () => {
    const policy = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });
    const services: Routes['services'] = {
      big: { endpoints: [ep('a'), ep('b'), ep('c')], policy, ring: ring(4, 'a', 'b', 'c') },
    };
    const r = new RingChecksums();
    let fired = 0;
    const timer = setInterval(() => fired++, 0);
    try {
      await r.prepare({ type: 'routes', version: 1, nonce: 'n', services }, new Map([['big', policy]]));
    } finally {
      clearInterval(timer);
    }
    expect(fired).toBeGreaterThan(0);
    expect(r.computedAhead).toBe(1);
    const expected = tableChecksum(buildMaglevTable(ring(4, 'a', 'b', 'c').members, 655_373));
    expect(r.update(table(services))).toEqual({ big: { version: 4, checksum: expected } });
    expect(r.computedAhead).toBe(0);
  });

  it('stops at the first slice after abandoned() answers true (the agent is stopping), keeping nothing', async () => {
    const policy = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });
    const services: Routes['services'] = {
      big: { endpoints: [ep('a'), ep('b'), ep('c')], policy, ring: ring(4, 'a', 'b', 'c') },
    };
    const r = new RingChecksums();
    let asked = 0;
    const routes: Routes = { type: 'routes', version: 1, nonce: 'n', services };
    await r.prepare(routes, new Map([['big', policy]]), undefined, () => ++asked >= 2);
    expect(asked).toBe(2);
    expect(r.computedAhead).toBe(0);
  });
});

describe('RingChecksums over a delta', () => {
  it('recomputes only what the delta changed, and answers as over the whole table', () => {
    const policy = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 251 } });
    const full: Routes = {
      type: 'routes',
      version: 1,
      nonce: 'n1',
      services: {
        a: { endpoints: [], policy, ring: ring(1, 'x', 'y') },
        b: { endpoints: [], policy, ring: ring(1, 'y', 'z') },
        plain: { endpoints: [ep('p')] },
      },
    };
    const r = new RingChecksums();
    const t1 = new RouteTable(full, 'control-plane', 0, deps);
    const before = r.update(t1);
    const step = (held: Routes, services: Routes['services'], removed: string[] = []): Routes => {
      const d = applyDelta(held, {
        type: 'routes',
        version: held.version + 1,
        baseVersion: held.version,
        nonce: 'n',
        services,
        removed,
      });
      if (!d.ok) throw new Error(d.error);
      return d.routes;
    };
    // A service without a ring changed: the same checksums, the same object.
    const r2 = step(full, { plain: { endpoints: [ep('p'), ep('q')] } });
    const t2 = new RouteTable(r2, 'control-plane', 1, deps, t1);
    expect(r.update(t2)).toBe(before);
    // One ring changed, one removed.
    const r3 = step(r2, { a: { endpoints: [], policy, ring: ring(2, 'x', 'y', 'w') } }, ['b']);
    const t3 = new RouteTable(r3, 'control-plane', 2, deps, t2);
    const after = r.update(t3);
    expect(after).toEqual(new RingChecksums().update(new RouteTable(r3, 'control-plane', 2, deps)));
    expect(after).toEqual({
      a: { version: 2, checksum: tableChecksum(buildMaglevTable(ring(2, 'x', 'y', 'w').members, 251)) },
    });
  });
});
