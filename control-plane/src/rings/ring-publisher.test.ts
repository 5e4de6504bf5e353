import {
  buildMaglevTable,
  buildRing,
  type Endpoint,
  resolvePolicy,
  type ServiceRoutes,
  tableChecksum,
} from '@meshlet/shared';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { expectedChecksum, RingPublisher } from './ring-publisher.js';

const ep = (id: string, tier = 0, health?: 'unhealthy', weight = 1): Endpoint => ({
  id,
  host: 'h',
  port: 1,
  tier,
  weight,
  labels: {},
  ...(health ? { health } : {}),
});
const ring = resolvePolicy({ balancer: { kind: 'ring_hash' } });
const maglev = resolvePolicy({ balancer: { kind: 'maglev' } });

describe('RingPublisher', () => {
  it('publishes the healthy members of the serving tier under a version that moves only when they change', () => {
    const p = new RingPublisher();
    const routes = (): ServiceRoutes => ({
      endpoints: [ep('b', 0, undefined, 3), ep('a'), ep('c', 0, 'unhealthy'), ep('d', 1)],
      policy: ring,
    });
    const r1 = routes();
    p.attach('cache', r1, 0, 5);
    expect(r1.ring).toEqual({
      version: 5,
      members: [
        { id: 'a', weight: 1 },
        { id: 'b', weight: 3 },
      ],
    });
    const r2 = routes();
    p.attach('cache', r2, 0, 9);
    expect(r2.ring?.version).toBe(5);
    // Serving tier 1 (a failover): its members are published.
    const r3 = routes();
    p.attach('cache', r3, 1, 9);
    expect(r3.ring).toEqual({ version: 9, members: [{ id: 'd', weight: 1 }] });
    // Not hash-balanced: no ring.
    const plain: ServiceRoutes = { endpoints: [ep('a')], policy: resolvePolicy({}) };
    p.attach('web', plain, undefined, 9);
    expect(plain.ring).toBeUndefined();
  });

  it('compares reported checksums with the table built from the published members', async () => {
    const p = new RingPublisher();
    for (const policy of [ring, maglev]) {
      const r: ServiceRoutes = { endpoints: [ep('a'), ep('b')], policy };
      p.attach(policy.balancer.kind, r, undefined, 3);
      await p.settled();
      const members = r.ring?.members ?? [];
      const built =
        policy.balancer.kind === 'maglev'
          ? buildMaglevTable(members, policy.balancer.maglevTableSize)
          : buildRing(members, policy.balancer.ringMinSize);
      const good = tableChecksum(built);
      expect(expectedChecksum(policy.balancer, { version: 3, members })).toBe(good);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 3, checksum: good })).toBe(true);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 3, checksum: 'bad' })).toBe(false);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 2, checksum: good })).toBeUndefined();
    }
    expect((await p.list(() => ring.balancer)).map((v) => v.service)).toEqual(['maglev', 'ring_hash']);
  });
});

// A follower replica takes over the rings the leader published (from the
// table it adopted): it checks its agents' ACKs against them, and keeps their
// versions once it leads while the membership stays the same.

describe("RingPublisher: adopting the leader's rings", () => {
  /** An endpoint with a weight (no health). */
  const ep = (id: string, tier = 0, weight = 1): Endpoint => ({ id, host: 'h', port: 1, tier, weight, labels: {} });
  const members = [
    { id: 'a', weight: 1 },
    { id: 'b', weight: 3 },
  ];
  const checksumOf = (m: typeof members) => tableChecksum(buildRing(m, ring.balancer.ringMinSize));

  /** A service's routes as the leader's table carries them (through JSON, as from etcd). */
  const adopted = (version: number, m = members): ServiceRoutes =>
    JSON.parse(
      JSON.stringify({ endpoints: m.map((x) => ep(x.id, 0, x.weight)), policy: ring, ring: { version, members: m } }),
    ) as ServiceRoutes;

  it('checks ACKs against the adopted ring', async () => {
    const p = new RingPublisher();
    p.setRing('cache', adopted(12));
    const good = checksumOf(members);
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: good })).toBe(true);
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: 'bad' })).toBe(false);
    expect(p.agrees('cache', ring.balancer, { version: 11, checksum: good })).toBeUndefined();
    expect(await p.list(() => ring.balancer)).toEqual([
      { service: 'cache', kind: 'ring_hash', version: 12, members, checksum: good },
    ]);

    // A newer ring of the leader replaces it.
    const other = [{ id: 'a', weight: 1 }];
    p.setRing('cache', adopted(15, other));
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: good })).toBeUndefined();
    expect(p.agrees('cache', ring.balancer, { version: 15, checksum: checksumOf(other) })).toBe(true);
  });

  it('keeps the adopted version when it builds the same membership as leader', () => {
    const p = new RingPublisher();
    p.setRing('cache', adopted(12));
    const routes: ServiceRoutes = { endpoints: [ep('b', 0, 3), ep('a'), ep('z', 1)], policy: ring };
    p.attach('cache', routes, 0, 30);
    expect(routes.ring).toEqual({ version: 12, members });
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: checksumOf(members) })).toBe(true);

    // A change of membership gets the new table's version.
    const changed: ServiceRoutes = { endpoints: [ep('b', 0, 2), ep('a')], policy: ring };
    p.attach('cache', changed, 0, 31);
    expect(changed.ring).toEqual({
      version: 31,
      members: [
        { id: 'a', weight: 1 },
        { id: 'b', weight: 2 },
      ],
    });
  });

  it("takes the leader's version for the same membership it published itself under another one", () => {
    const p = new RingPublisher();
    const own: ServiceRoutes = { endpoints: [ep('a'), ep('b', 0, 3)], policy: ring };
    p.attach('cache', own, 0, 4);
    expect(own.ring?.version).toBe(4);
    p.setRing('cache', adopted(9));
    expect(p.agrees('cache', ring.balancer, { version: 4, checksum: checksumOf(members) })).toBeUndefined();
    expect(p.agrees('cache', ring.balancer, { version: 9, checksum: checksumOf(members) })).toBe(true);
  });

  it('drops the ring of a service the leader does not hash-balance, or published no ring for', async () => {
    const p = new RingPublisher();
    p.setRing('cache', adopted(12));
    p.setRing('cache', { endpoints: [ep('a')], policy: resolvePolicy({}), ring: { version: 12, members } });
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: checksumOf(members) })).toBeUndefined();
    expect(await p.list(() => ring.balancer)).toEqual([]);

    p.setRing('store', adopted(12));
    const { ring: _none, ...noRing } = adopted(13);
    p.setRing('store', noRing);
    expect(p.agrees('store', ring.balancer, { version: 12, checksum: checksumOf(members) })).toBeUndefined();
    expect(await p.list(() => ring.balancer)).toEqual([]);

    p.setRing('plain', { endpoints: [ep('a')] });
    expect(await p.list(() => ring.balancer)).toEqual([]);
  });
});

// The control plane's expected checksum of a large published table (a
// 655373-slot Maglev table, tens of ms to build) was computed at once on the
// first ACK of each ring version, blocking the control plane's event loop.

describe('RingPublisher: large tables', () => {
  const big = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });

  it('computes the expected checksum of a 655373-slot Maglev ring in slices: a timer fires meanwhile, and an ACK before it learns whether it agrees after', async () => {
    const p = new RingPublisher();
    const told: Array<[string, number, string]> = [];
    let fired = 0;
    let ticking = true;
    const tick = () => {
      fired++;
      if (ticking) setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    while (fired === 0) await turn();
    const r: ServiceRoutes = { endpoints: [ep('a'), ep('b'), ep('c')], policy: big };
    p.attach('cache', r, undefined, 7);
    const members = r.ring?.members ?? [];
    const good = tableChecksum(buildMaglevTable(members, 655_373));
    const firedAtPublish = fired;
    // An ACK while it computes: not known yet (and not computed at once on the ACK path).
    expect(p.agrees('cache', big.balancer, { version: 7, checksum: good })).toBeUndefined();
    expect(fired).toBe(firedAtPublish);
    p.onChecksum((...x) => told.push(x));
    await p.settled();
    ticking = false;
    expect(fired).toBeGreaterThan(firedAtPublish);
    expect(told).toEqual([['cache', 7, good]]);
    expect(p.agrees('cache', big.balancer, { version: 7, checksum: good })).toBe(true);
    expect(p.agrees('cache', big.balancer, { version: 7, checksum: 'bad' })).toBe(false);
    expect((await p.list(() => big.balancer))[0]?.checksum).toBe(good);
  });

  it('drops a computation whose ring was replaced meanwhile; the newer one is told', async () => {
    const p = new RingPublisher();
    const told: number[] = [];
    p.onChecksum((_s, version) => told.push(version));
    p.attach('cache', { endpoints: [ep('a'), ep('b')], policy: big }, undefined, 7);
    p.attach('cache', { endpoints: [ep('a'), ep('b'), ep('c')], policy: big }, undefined, 8);
    await p.settled();
    expect(told).toEqual([8]);
  });
});
