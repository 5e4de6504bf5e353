import { seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { balancerDeps, balancerPolicy, countPicks, endpoint, endpoints } from './test-support/fixtures.js';
import { WeightedBalancer } from './weighted.js';

const policy = balancerPolicy('weighted');
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(1, over);
const count = (b: WeightedBalancer, n: number, exclude?: ReadonlySet<string>) =>
  countPicks(() => b.pick({ exclude }), n);

describe('WeightedBalancer', () => {
  it('gives each endpoint its weight share over 100k picks, to within a pick per weight cycle', () => {
    const b = new WeightedBalancer(
      [endpoint('a', 1), endpoint('b', 2), endpoint('c', 3), endpoint('d', 4)],
      policy,
      deps(),
    );
    const c = count(b, 100_000);
    expect(Math.abs(c.a! - 10_000)).toBeLessThanOrEqual(2);
    expect(Math.abs(c.b! - 20_000)).toBeLessThanOrEqual(2);
    expect(Math.abs(c.c! - 30_000)).toBeLessThanOrEqual(2);
    expect(Math.abs(c.d! - 40_000)).toBeLessThanOrEqual(2);
  });

  it('interleaves a heavy endpoint with the others, as nginx does', () => {
    const b = new WeightedBalancer([endpoint('a', 5), endpoint('b'), endpoint('c')], policy, deps({ random: () => 0 }));
    expect(Array.from({ length: 7 }, () => b.pick()?.id)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('starts at a random phase, so that agents do not all begin on the same endpoint', () => {
    const firsts = new Set<string | undefined>();
    for (let seed = 0; seed < 20; seed++)
      firsts.add(
        new WeightedBalancer(endpoints('a', 'b', 'c'), policy, deps({ random: seededRandom(seed) })).pick()?.id,
      );
    expect(firsts.size).toBeGreaterThan(1);
  });

  it('reads weights from weightOf on every pick, so slow start can ramp them', () => {
    let bWeight = 1;
    const b = new WeightedBalancer(
      [endpoint('a', 4), endpoint('b', 4)],
      policy,
      deps({ weightOf: (e) => (e.id === 'b' ? bWeight : e.weight) }),
    );
    const early = count(b, 5000);
    expect(early.b! / 5000).toBeCloseTo(0.2, 2);
    bWeight = 4;
    const later = count(b, 5000);
    expect(later.b! / 5000).toBeCloseTo(0.5, 2);
  });

  it('skips excluded endpoints and shares among the others by weight', () => {
    const b = new WeightedBalancer([endpoint('a', 1), endpoint('b', 2), endpoint('c', 3)], policy, deps());
    const c = count(b, 30_000, new Set(['c']));
    expect(c.c).toBeUndefined();
    expect(Math.abs(c.a! - 10_000)).toBeLessThanOrEqual(2);
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new WeightedBalancer([], policy, deps()).pick()).toBeUndefined();
  });
});
