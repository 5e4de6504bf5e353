import { buildRing, type Endpoint, resolvePolicy, type ServiceRoutes, tableChecksum } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { RingPublisher } from './ring-publisher.js';

// A follower replica takes over the rings the leader published (from the
// table it adopted): it checks its agents' ACKs against them, and keeps their
// versions once it leads while the membership stays the same.

const ep = (id: string, tier = 0, weight = 1): Endpoint => ({ id, host: 'h', port: 1, tier, weight, labels: {} });
const ring = resolvePolicy({ balancer: { kind: 'ring_hash' } });
const members = [{ id: 'a', weight: 1 }, { id: 'b', weight: 3 }];
const checksumOf = (m: typeof members) => tableChecksum(buildRing(m, ring.balancer.ringMinSize));

/** A service's routes as the leader's table carries them (through JSON, as from etcd). */
const adopted = (version: number, m = members): ServiceRoutes =>
  JSON.parse(JSON.stringify({ endpoints: m.map((x) => ep(x.id, 0, x.weight)), policy: ring, ring: { version, members: m } })) as ServiceRoutes;

describe('RingPublisher: adopting the leader\'s rings', () => {
  it('checks ACKs against the adopted ring', () => {
    const p = new RingPublisher();
    p.setRing('cache', adopted(12));
    const good = checksumOf(members);
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: good })).toBe(true);
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: 'bad' })).toBe(false);
    expect(p.agrees('cache', ring.balancer, { version: 11, checksum: good })).toBeUndefined();
    expect(p.list(() => ring.balancer)).toEqual([{ service: 'cache', kind: 'ring_hash', version: 12, members, checksum: good }]);

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
    expect(changed.ring).toEqual({ version: 31, members: [{ id: 'a', weight: 1 }, { id: 'b', weight: 2 }] });
  });

  it('takes the leader\'s version for the same membership it published itself under another one', () => {
    const p = new RingPublisher();
    const own: ServiceRoutes = { endpoints: [ep('a'), ep('b', 0, 3)], policy: ring };
    p.attach('cache', own, 0, 4);
    expect(own.ring?.version).toBe(4);
    p.setRing('cache', adopted(9));
    expect(p.agrees('cache', ring.balancer, { version: 4, checksum: checksumOf(members) })).toBeUndefined();
    expect(p.agrees('cache', ring.balancer, { version: 9, checksum: checksumOf(members) })).toBe(true);
  });

  it('drops the ring of a service the leader does not hash-balance, or published no ring for', () => {
    const p = new RingPublisher();
    p.setRing('cache', adopted(12));
    p.setRing('cache', { endpoints: [ep('a')], policy: resolvePolicy({}), ring: { version: 12, members } });
    expect(p.agrees('cache', ring.balancer, { version: 12, checksum: checksumOf(members) })).toBeUndefined();
    expect(p.list(() => ring.balancer)).toEqual([]);

    p.setRing('store', adopted(12));
    const { ring: _none, ...noRing } = adopted(13);
    p.setRing('store', noRing);
    expect(p.agrees('store', ring.balancer, { version: 12, checksum: checksumOf(members) })).toBeUndefined();
    expect(p.list(() => ring.balancer)).toEqual([]);

    p.setRing('plain', { endpoints: [ep('a')] });
    expect(p.list(() => ring.balancer)).toEqual([]);
  });
});
