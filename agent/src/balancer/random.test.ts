import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { RandomBalancer } from './random.js';
import { balancerDeps, balancerPolicy, endpoint, endpoints, pickShares } from './test-support/fixtures.js';

const policy = balancerPolicy('random');
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(7, over);
const N = 100_000;
const shares = (b: RandomBalancer, exclude?: ReadonlySet<string>) => pickShares(() => b.pick({ exclude }), N);

describe('RandomBalancer', () => {
  it('picks uniformly when the weights are equal', () => {
    const s = shares(new RandomBalancer(endpoints('a', 'b', 'c', 'd'), policy, deps()));
    for (const id of ['a', 'b', 'c', 'd']) expect(Math.abs(s[id]! - 0.25)).toBeLessThan(0.01);
  });

  it('picks in proportion to the weights when they differ', () => {
    const s = shares(
      new RandomBalancer([endpoint('a', 1), endpoint('b', 2), endpoint('c', 3), endpoint('d', 4)], policy, deps()),
    );
    expect(Math.abs(s.a! - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(s.b! - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(s.c! - 0.3)).toBeLessThan(0.01);
    expect(Math.abs(s.d! - 0.4)).toBeLessThan(0.01);
  });

  it('follows weightOf when given', () => {
    const s = shares(
      new RandomBalancer(endpoints('a', 'b'), policy, deps({ weightOf: (e) => (e.id === 'a' ? 9 : 1) })),
    );
    expect(Math.abs(s.a! - 0.9)).toBeLessThan(0.01);
  });

  it('never picks an excluded endpoint and keeps the weights among the others', () => {
    const b = new RandomBalancer([endpoint('a', 1), endpoint('b', 3), endpoint('c', 6)], policy, deps());
    const s = shares(b, new Set(['c']));
    expect(s.c).toBeUndefined();
    expect(Math.abs(s.a! - 0.25)).toBeLessThan(0.01);
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new RandomBalancer([], policy, deps()).pick()).toBeUndefined();
  });
});
