import { type Endpoint, type TierPolicy, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { RoundRobinBalancer } from './round-robin.js';
import { ServiceLoadBalancer } from './service-load-balancer.js';
import { countPicks, endpoint } from './test-support/fixtures.js';

// The control plane's failover decision (`ServiceRoutes.activeTier`) on top
// of the caller's own tier logic: lower tiers are left out while the active
// tiers can serve, and the decision yields to health when they cannot.

const spill: TierPolicy = { mode: 'spill', overprovisioningFactor: 1.4, panicThresholdPercent: 50, zoneMinHealthyPercent: 70 };

/** `n` endpoints of a tier named `${prefix}${i}`, the first `healthy` of them healthy. */
const tier = (prefix: string, tierNo: number, n: number, healthy: number): Endpoint[] =>
  Array.from({ length: n }, (_, i) => endpoint(`${prefix}${i}`, 1, { tier: tierNo, ...(i < healthy ? {} : { health: 'unhealthy' as const }) }));

function lb(endpoints: Endpoint[], activeTier: number | undefined, policy: TierPolicy = spill): ServiceLoadBalancer {
  return new ServiceLoadBalancer({ endpoints, policy, zone: undefined, random: seededRandom(5), makeBalancer: (eps) => new RoundRobinBalancer(eps, 0), activeTier });
}

/** Share of `n` picks per tier. */
function tierShares(slb: ServiceLoadBalancer, endpoints: Endpoint[], n = 2_000): Record<number, number> {
  const tierOf = new Map(endpoints.map((e) => [e.id, e.tier]));
  const shares: Record<number, number> = {};
  for (const [id, count] of Object.entries(countPicks(() => slb.pick(), n))) {
    const t = tierOf.get(id) ?? -1;
    shares[t] = (shares[t] ?? 0) + count / n;
  }
  return shares;
}

describe('ServiceLoadBalancer activeTier', () => {
  it('sends nothing to the tiers below the active tier, although they are healthy', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 3)];
    expect(tierShares(lb(eps, 1), eps)).toEqual({ 1: 1 });
    expect(tierShares(lb(eps, undefined), eps)).toEqual({ 0: 1 });
  });

  it('does not spill a retry to a tier below the active tier', () => {
    const eps = [...tier('p', 0, 2, 2), ...tier('b', 1, 2, 2)];
    const slb = lb(eps, 1);
    expect(slb.pick({ exclude: new Set(['b0', 'b1']) })).toBeUndefined();
    // Without the decision, the same retry goes to tier 0.
    expect(lb(eps, undefined).pick({ exclude: new Set(['b0', 'b1']) })?.tier).toBe(0);
  });

  it('keeps the tier logic among the active tiers: spill from the active tier to the ones above it', () => {
    const eps = [...tier('p', 0, 4, 4), ...tier('b', 1, 10, 5), ...tier('c', 2, 10, 10)];
    const shares = tierShares(lb(eps, 1), eps, 10_000);
    expect(shares[0]).toBeUndefined();
    expect(shares[1]).toBeCloseTo(0.7, 1);
    expect(shares[2]).toBeCloseTo(0.3, 1);
  });

  it('is ignored when no tier at or above it has a healthy endpoint: serve from what is healthy', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 0)];
    expect(tierShares(lb(eps, 1), eps)).toEqual({ 0: 1 });
    // Also when the active tier has no endpoints at all.
    expect(tierShares(lb(tier('p', 0, 3, 3), 2), tier('p', 0, 3, 3))).toEqual({ 0: 1 });
  });

  it('yields to ejections: the active tier ejected entirely brings the lower tiers back, and they leave again on return', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 2, 2)];
    const slb = lb(eps, 1);
    slb.setEjected(new Set(['b0', 'b1']));
    expect(tierShares(slb, eps)).toEqual({ 0: 1 });
    slb.setEjected(new Set());
    expect(tierShares(slb, eps)).toEqual({ 1: 1 });
  });

  it('lists the tiers left out in describe(), with no load', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 3)];
    expect(lb(eps, 1).describe()).toEqual([
      { tier: 0, healthy: 3, total: 3, load: 0, panic: false, inactive: true },
      { tier: 1, healthy: 3, total: 3, load: 1, panic: false },
    ]);
  });
});
