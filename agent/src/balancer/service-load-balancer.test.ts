import { type Endpoint, type EndpointHealth, type TierPolicy, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { RoundRobinBalancer } from './round-robin.js';
import { ServiceLoadBalancer } from './service-load-balancer.js';
import { countPicks } from './test-support/fixtures.js';

interface Ctx {
  exclude?: ReadonlySet<string>;
  hash?: number;
}

/** A stand-in for the real balancers: uniform over its list, skipping excluded ids; records the contexts it saw. */
function uniformBalancers(seed = 7) {
  const random = seededRandom(seed);
  const built: string[][] = [];
  const seen: Array<Ctx | undefined> = [];
  const make = (endpoints: readonly Endpoint[]) => {
    built.push(endpoints.map((e) => e.id));
    return {
      pick(ctx?: Ctx): Endpoint | undefined {
        seen.push(ctx);
        const left = endpoints.filter((e) => !ctx?.exclude?.has(e.id));
        return left[Math.floor(random() * left.length)];
      },
    };
  };
  return { make, built, seen };
}

const policy: TierPolicy = {
  mode: 'spill',
  overprovisioningFactor: 1.4,
  panicThresholdPercent: 50,
  zoneMinHealthyPercent: 70,
};

const ep = (id: string, tier: number, health?: EndpointHealth, zone?: string): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1,
  tier,
  weight: 1,
  labels: {},
  ...(health ? { health } : {}),
  ...(zone !== undefined ? { zone } : {}),
});

/** `n` endpoints of a tier named `${prefix}${i}`, the first `healthy` of them healthy. */
function tier(prefix: string, tierNo: number, n: number, healthy: number, zone?: string): Endpoint[] {
  return Array.from({ length: n }, (_, i) => ep(`${prefix}${i}`, tierNo, i < healthy ? undefined : 'unhealthy', zone));
}

function lb(endpoints: Endpoint[], overrides: Partial<TierPolicy> = {}, zone?: string, seed = 42) {
  const balancers = uniformBalancers(seed + 1);
  const slb = new ServiceLoadBalancer({
    endpoints,
    policy: { ...policy, ...overrides },
    zone,
    random: seededRandom(seed),
    makeBalancer: balancers.make,
  });
  return { slb, balancers };
}

const byId = (endpoints: Endpoint[]) => new Map(endpoints.map((e) => [e.id, e]));

/** Picks `n` times; counts per id and per tier. */
function run(slb: ServiceLoadBalancer, endpoints: Endpoint[], n = 10_000) {
  const ids = byId(endpoints);
  const perId = new Map<string, number>();
  const perTier: number[] = [];
  for (let i = 0; i < n; i++) {
    const e = slb.pick();
    if (e === undefined) throw new Error('no pick');
    perId.set(e.id, (perId.get(e.id) ?? 0) + 1);
    const tierNo = (ids.get(e.id) as Endpoint).tier;
    perTier[tierNo] = (perTier[tierNo] ?? 0) + 1;
  }
  return { perId, perTier: Array.from(perTier, (c) => (c ?? 0) / n) };
}

describe('ServiceLoadBalancer tiers', () => {
  it('spills 30% to tier 1 when tier 0 has half its endpoints healthy', () => {
    const eps = [...tier('p', 0, 10, 5), ...tier('b', 1, 10, 10)];
    const { slb } = lb(eps);
    const { perTier, perId } = run(slb, eps);
    expect(perTier[0]).toBeGreaterThan(0.68);
    expect(perTier[0]).toBeLessThan(0.72);
    expect(perTier[1]).toBeGreaterThan(0.28);
    expect(perTier[1]).toBeLessThan(0.32);
    for (let i = 5; i < 10; i++) expect(perId.get(`p${i}`)).toBeUndefined();
  });

  it('keeps all traffic on tier 0 while it is all healthy', () => {
    const eps = [...tier('p', 0, 10, 10), ...tier('b', 1, 10, 10)];
    expect(run(lb(eps).slb, eps).perTier).toEqual([1]);
  });

  it('keeps all traffic on tier 0 with 8 of 10 healthy (overprovisioning)', () => {
    const eps = [...tier('p', 0, 10, 8), ...tier('b', 1, 10, 10)];
    expect(run(lb(eps).slb, eps).perTier).toEqual([1]);
  });

  it('describes each tier with endpoints', () => {
    const eps = [...tier('p', 0, 10, 5), ...tier('b', 2, 4, 1)];
    const d = lb(eps).slb.describe();
    expect(d.map(({ load: _load, ...rest }) => rest)).toEqual([
      { tier: 0, healthy: 5, total: 10, panic: false },
      { tier: 2, healthy: 1, total: 4, panic: true },
    ]);
    expect(d[0]?.load).toBeCloseTo(0.7, 9);
    expect(d[1]?.load).toBeCloseTo(0.3, 9);
    expect(lb(eps).slb.size).toBe(14);
  });

  it('counts draining endpoints as not healthy', () => {
    const eps = [ep('a', 0), ep('b', 0), ep('c', 0, 'draining'), ep('d', 0, 'healthy')];
    const { slb } = lb(eps);
    expect(slb.describe()[0]?.healthy).toBe(3);
    expect(run(slb, eps, 2_000).perId.get('c')).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(lb([]).slb.pick()).toBeUndefined();
  });
});

describe('ServiceLoadBalancer hashed requests', () => {
  it('keeps a hash on one tier while the load is split, and splits hashes by the loads', () => {
    const eps = [...tier('p', 0, 10, 5), ...tier('b', 1, 10, 10)];
    const { slb } = lb(eps);
    const keys = seededRandom(3);
    let onTier0 = 0;
    for (let k = 0; k < 10_000; k++) {
      const hash = Math.floor(keys() * 2 ** 32);
      const first = slb.pick({ hash })?.tier;
      for (let i = 0; i < 3; i++) expect(slb.pick({ hash })?.tier).toBe(first);
      if (first === 0) onTier0++;
    }
    expect(onTier0 / 10_000).toBeGreaterThan(0.68);
    expect(onTier0 / 10_000).toBeLessThan(0.72);
  });
});

describe('ServiceLoadBalancer active-standby', () => {
  it('hands all traffic to the backup when the primary has no healthy endpoint, and fails back', () => {
    const down = [...tier('p', 0, 3, 0), ...tier('b', 1, 3, 3)];
    expect(run(lb(down, { mode: 'active-standby' }).slb, down).perTier).toEqual([0, 1]);

    const up = [...tier('p', 0, 3, 1), ...tier('b', 1, 3, 3)];
    const back = run(lb(up, { mode: 'active-standby', panicThresholdPercent: 0 }).slb, up);
    expect(back.perTier).toEqual([1]);
    expect([...back.perId.keys()]).toEqual(['p0']);
  });
});

describe('ServiceLoadBalancer panic', () => {
  it('spreads over all endpoints of a tier below the panic threshold, unhealthy ones included', () => {
    const eps = tier('e', 0, 10, 4);
    const { perId } = run(lb(eps).slb, eps);
    expect(perId.size).toBe(10);
    let unhealthy = 0;
    for (let i = 4; i < 10; i++) unhealthy += perId.get(`e${i}`) ?? 0;
    expect(unhealthy / 10_000).toBeGreaterThan(0.57);
    expect(unhealthy / 10_000).toBeLessThan(0.63);
  });

  it('uses only healthy endpoints at the threshold', () => {
    const eps = tier('e', 0, 10, 5);
    expect([...run(lb(eps).slb, eps).perId.keys()].sort()).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  });

  it('uses only healthy endpoints with panic off', () => {
    const eps = tier('e', 0, 10, 1);
    expect([...run(lb(eps, { panicThresholdPercent: 0 }).slb, eps).perId.keys()]).toEqual(['e0']);
  });
});

describe('ServiceLoadBalancer zones', () => {
  // Five endpoints in the caller's zone a, five in zone b, all tier 0.
  const zoned = (localHealthy: number) => [...tier('a', 0, 5, localHealthy, 'a'), ...tier('b', 0, 5, 5, 'b')];

  it('prefers the local zone while at least 70% of it is healthy', () => {
    const eps = zoned(4);
    const { perId } = run(lb(eps, {}, 'a').slb, eps);
    expect([...perId.keys()].sort()).toEqual(['a0', 'a1', 'a2', 'a3']);
  });

  it('falls back to all healthy endpoints of the tier below 70%', () => {
    const eps = zoned(3);
    const { perId } = run(lb(eps, {}, 'a').slb, eps);
    expect([...perId.keys()].sort()).toEqual(['a0', 'a1', 'a2', 'b0', 'b1', 'b2', 'b3', 'b4']);
  });

  it('spreads over all zones without a caller zone or with zone preference off', () => {
    const eps = zoned(5);
    expect(run(lb(eps).slb, eps).perId.size).toBe(10);
    expect(run(lb(eps, { zoneMinHealthyPercent: 0 }, 'a').slb, eps).perId.size).toBe(10);
  });

  it('retries in the other zone of the same tier before spilling to the next tier', () => {
    const eps = [...zoned(5), ep('backup', 1)];
    const { slb } = lb(eps, {}, 'a');
    const exclude = new Set(['a0', 'a1', 'a2', 'a3', 'a4']);
    for (let i = 0; i < 100; i++) expect(slb.pick({ exclude })?.zone).toBe('b');
  });
});

describe('ServiceLoadBalancer ejections', () => {
  it('gives ejected endpoints no traffic, and takes them back when no longer ejected', () => {
    const eps = tier('e', 0, 5, 5);
    const { slb } = lb(eps);
    const ejected = new Set(['e1']);
    slb.setEjected(ejected);
    expect(run(slb, eps, 2_000).perId.has('e1')).toBe(false);
    expect(slb.describe()[0]?.healthy).toBe(4);
    ejected.clear(); // the caller may mutate its set and pass it again
    slb.setEjected(ejected);
    expect(run(slb, eps, 2_000).perId.has('e1')).toBe(true);
  });

  it('counts ejections against the tier health, so that traffic spills', () => {
    const eps = [...tier('p', 0, 10, 10), ...tier('b', 1, 10, 10)];
    const { slb } = lb(eps);
    slb.setEjected(new Set(['p0', 'p1', 'p2', 'p3', 'p4']));
    expect(slb.describe()[1]?.load).toBeCloseTo(0.3, 9);
  });

  it('rebuilds balancers only when the ejections change, never per pick', () => {
    const eps = [...tier('p', 0, 10, 5), ...tier('b', 1, 10, 10)];
    const { slb, balancers } = lb(eps);
    const built = balancers.built.length;
    run(slb, eps, 1_000);
    slb.setEjected(new Set(['unrelated']));
    expect(balancers.built.length).toBe(built);
    slb.setEjected(new Set(['p0']));
    expect(balancers.built.length).toBeGreaterThan(built);
  });
});

describe('ServiceLoadBalancer retries', () => {
  it('spills to tier 1 when every tier-0 endpoint is excluded', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 3)];
    const { slb } = lb(eps);
    const exclude = new Set(['p0', 'p1', 'p2']);
    for (let i = 0; i < 100; i++) expect(slb.pick({ exclude })?.tier).toBe(1);
  });

  it('spills to the standby in active-standby mode', () => {
    const eps = [...tier('p', 0, 2, 2), ...tier('b', 1, 2, 2)];
    const { slb } = lb(eps, { mode: 'active-standby' });
    expect(slb.pick({ exclude: new Set(['p0', 'p1']) })?.tier).toBe(1);
  });

  it('returns undefined when everything is excluded', () => {
    const eps = [...tier('p', 0, 2, 2), ...tier('b', 1, 2, 2)];
    expect(lb(eps).slb.pick({ exclude: new Set(['p0', 'p1', 'b0', 'b1']) })).toBeUndefined();
  });

  it('passes the context through to the tier balancer', () => {
    const { slb, balancers } = lb(tier('e', 0, 3, 3));
    const ctx = { hash: 1234, exclude: new Set(['e0']) };
    slb.pick(ctx);
    expect(balancers.seen.at(-1)).toBe(ctx);
  });
});

// The control plane's failover decision (`ServiceRoutes.activeTier`) on top
// of the caller's own tier logic: lower tiers are left out while the active
// tiers can serve, and the decision yields to health when they cannot.

/** Round robin under the control plane's failover decision `activeTier`. */
function withActiveTier(endpoints: Endpoint[], activeTier: number | undefined): ServiceLoadBalancer {
  return new ServiceLoadBalancer({
    endpoints,
    policy,
    zone: undefined,
    random: seededRandom(5),
    makeBalancer: (eps) => new RoundRobinBalancer(eps, 0),
    activeTier,
  });
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
    expect(tierShares(withActiveTier(eps, 1), eps)).toEqual({ 1: 1 });
    expect(tierShares(withActiveTier(eps, undefined), eps)).toEqual({ 0: 1 });
  });

  it('does not spill a retry to a tier below the active tier', () => {
    const eps = [...tier('p', 0, 2, 2), ...tier('b', 1, 2, 2)];
    const slb = withActiveTier(eps, 1);
    expect(slb.pick({ exclude: new Set(['b0', 'b1']) })).toBeUndefined();
    // Without the decision, the same retry goes to tier 0.
    expect(withActiveTier(eps, undefined).pick({ exclude: new Set(['b0', 'b1']) })?.tier).toBe(0);
  });

  it('keeps the tier logic among the active tiers: spill from the active tier to the ones above it', () => {
    const eps = [...tier('p', 0, 4, 4), ...tier('b', 1, 10, 5), ...tier('c', 2, 10, 10)];
    const shares = tierShares(withActiveTier(eps, 1), eps, 10_000);
    expect(shares[0]).toBeUndefined();
    expect(shares[1]).toBeCloseTo(0.7, 1);
    expect(shares[2]).toBeCloseTo(0.3, 1);
  });

  it('is ignored when no tier at or above it has a healthy endpoint: serve from what is healthy', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 0)];
    expect(tierShares(withActiveTier(eps, 1), eps)).toEqual({ 0: 1 });
    // Also when the active tier has no endpoints at all.
    expect(tierShares(withActiveTier(tier('p', 0, 3, 3), 2), tier('p', 0, 3, 3))).toEqual({ 0: 1 });
  });

  it('yields to ejections: the active tier ejected entirely brings the lower tiers back, and they leave again on return', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 2, 2)];
    const slb = withActiveTier(eps, 1);
    slb.setEjected(new Set(['b0', 'b1']));
    expect(tierShares(slb, eps)).toEqual({ 0: 1 });
    slb.setEjected(new Set());
    expect(tierShares(slb, eps)).toEqual({ 1: 1 });
  });

  it('lists the tiers left out in describe(), with no load', () => {
    const eps = [...tier('p', 0, 3, 3), ...tier('b', 1, 3, 3)];
    expect(withActiveTier(eps, 1).describe()).toEqual([
      { tier: 0, healthy: 3, total: 3, load: 0, panic: false, inactive: true },
      { tier: 1, healthy: 3, total: 3, load: 1, panic: false },
    ]);
  });
});
