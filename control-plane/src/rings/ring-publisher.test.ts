import { buildMaglevTable, buildRing, type Endpoint, resolvePolicy, type ServiceRoutes, tableChecksum } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { expectedChecksum, RingPublisher } from './ring-publisher.js';

const ep = (id: string, tier = 0, health?: 'unhealthy', weight = 1): Endpoint => ({ id, host: 'h', port: 1, tier, weight, labels: {}, ...(health ? { health } : {}) });
const ring = resolvePolicy({ balancer: { kind: 'ring_hash' } });
const maglev = resolvePolicy({ balancer: { kind: 'maglev' } });

describe('RingPublisher', () => {
  it('publishes the healthy members of the serving tier under a version that moves only when they change', () => {
    const p = new RingPublisher();
    const routes = (): ServiceRoutes => ({ endpoints: [ep('b', 0, undefined, 3), ep('a'), ep('c', 0, 'unhealthy'), ep('d', 1)], policy: ring });
    const r1 = routes();
    p.attach('cache', r1, 0, 5);
    expect(r1.ring).toEqual({ version: 5, members: [{ id: 'a', weight: 1 }, { id: 'b', weight: 3 }] });
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

  it('compares reported checksums with the table built from the published members', () => {
    const p = new RingPublisher();
    for (const policy of [ring, maglev]) {
      const r: ServiceRoutes = { endpoints: [ep('a'), ep('b')], policy };
      p.attach(policy.balancer.kind, r, undefined, 3);
      const members = r.ring?.members ?? [];
      const built =
        policy.balancer.kind === 'maglev' ? buildMaglevTable(members, policy.balancer.maglevTableSize) : buildRing(members, policy.balancer.ringMinSize);
      const good = tableChecksum(built);
      expect(expectedChecksum(policy.balancer, { version: 3, members })).toBe(good);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 3, checksum: good })).toBe(true);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 3, checksum: 'bad' })).toBe(false);
      expect(p.agrees(policy.balancer.kind, policy.balancer, { version: 2, checksum: good })).toBeUndefined();
    }
    expect(p.list(() => ring.balancer).map((v) => v.service)).toEqual(['maglev', 'ring_hash']);
  });
});
