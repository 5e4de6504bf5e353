import type { BalancerPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { balancerDeps, balancerPolicy, endpoint, endpoints, pickShares } from './test-support/fixtures.js';

const policy = (over?: Partial<BalancerPolicy>) => balancerPolicy('least_request', over);
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(3, over);
const N = 100_000;
const shares = (b: LeastRequestBalancer, exclude?: ReadonlySet<string>) => pickShares(() => b.pick({ exclude }), N);

describe('LeastRequestBalancer, equal weights (power of two choices)', () => {
  it('prefers less loaded endpoints: the better of two random ones wins', () => {
    const d = deps();
    const eps = endpoints('idle', 'one', 'two', 'busy');
    eps.forEach((e, i) => (d.stats.get(e.id).active = i));
    const s = shares(new LeastRequestBalancer(eps, policy(), d));
    // Of the six pairs, the idle endpoint wins the three it is in, "one" two, "two" one, "busy" none.
    expect(Math.abs(s.idle! - 3 / 6)).toBeLessThan(0.01);
    expect(Math.abs(s.one! - 2 / 6)).toBeLessThan(0.01);
    expect(Math.abs(s.two! - 1 / 6)).toBeLessThan(0.01);
    expect(s.busy).toBeUndefined();
  });

  it('keeps requests in flight even when they pile up', () => {
    const d = deps();
    const eps = Array.from({ length: 10 }, (_, i) => endpoint(`e${i}`));
    const b = new LeastRequestBalancer(eps, policy(), d);
    for (let i = 0; i < 10_000; i++) d.stats.get(b.pick()!.id).active++;
    const active = eps.map((e) => d.stats.get(e.id).active);
    expect(Math.max(...active) - Math.min(...active)).toBeLessThanOrEqual(3);
  });

  it('uses power of two choices when weightOf gives equal weights', () => {
    const d = deps({ weightOf: () => 7 });
    const eps = endpoints('a', 'b');
    d.stats.get('a').active = 1;
    const s = shares(new LeastRequestBalancer(eps, policy(), d));
    expect(s.b).toBe(1);
  });

  it('never picks an excluded endpoint, and returns undefined when all are', () => {
    const d = deps();
    d.stats.get('a').active = 5;
    const b = new LeastRequestBalancer(endpoints('a', 'b', 'c'), policy(), d);
    const s = shares(b, new Set(['b', 'c']));
    expect(s.a).toBe(1);
    const t = shares(b, new Set(['b']));
    expect(t.c).toBe(1);
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints, the only endpoint with one', () => {
    expect(new LeastRequestBalancer([], policy(), deps()).pick()).toBeUndefined();
    expect(new LeastRequestBalancer([endpoint('solo')], policy(), deps()).pick()?.id).toBe('solo');
  });
});

describe('LeastRequestBalancer, unequal weights', () => {
  it('follows the weights when nothing is in flight', () => {
    const s = shares(new LeastRequestBalancer([endpoint('a', 1), endpoint('b', 3)], policy(), deps()));
    expect(Math.abs(s.a! - 0.25)).toBeLessThan(0.01);
  });

  it('divides a weight by (active + 1)^bias', () => {
    const d = deps();
    d.stats.get('b').active = 5;
    // a: 1 / 1; b: 3 / 6 = 0.5, so a gets 2/3.
    expect(
      Math.abs(shares(new LeastRequestBalancer([endpoint('a', 1), endpoint('b', 3)], policy(), d)).a! - 2 / 3),
    ).toBeLessThan(0.01);
    // bias 2: b: 3 / 36, so a gets 12/13.
    expect(
      Math.abs(
        shares(new LeastRequestBalancer([endpoint('a', 1), endpoint('b', 3)], policy({ activeRequestBias: 2 }), d)).a! -
          12 / 13,
      ),
    ).toBeLessThan(0.01);
    // bias 0: load ignored.
    expect(
      Math.abs(
        shares(new LeastRequestBalancer([endpoint('a', 1), endpoint('b', 3)], policy({ activeRequestBias: 0 }), d)).a! -
          0.25,
      ),
    ).toBeLessThan(0.01);
  });

  it('reads weights from weightOf', () => {
    const s = shares(
      new LeastRequestBalancer(endpoints('a', 'b'), policy(), deps({ weightOf: (e) => (e.id === 'a' ? 0.5 : 1) })),
    );
    expect(Math.abs(s.a! - 1 / 3)).toBeLessThan(0.01);
  });

  it('never picks an excluded endpoint', () => {
    const s = shares(
      new LeastRequestBalancer([endpoint('a', 1), endpoint('b', 2), endpoint('c', 3)], policy(), deps()),
      new Set(['c']),
    );
    expect(s.c).toBeUndefined();
    expect(Math.abs(s.a! - 1 / 3)).toBeLessThan(0.01);
  });
});
