import { type BalancerPolicy, type Endpoint, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { EndpointStatsMap } from './endpoint-stats.js';
import { RandomBalancer } from './random.js';

const ep = (id: string, weight = 1): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight, labels: {} });
const policy: BalancerPolicy = { kind: 'random', activeRequestBias: 1, ewmaDecayMs: 10_000, ewmaDefaultLatencyMs: 10, ringMinSize: 1024, maglevTableSize: 65537 };
const deps = (over: Partial<BalancerDeps> = {}): BalancerDeps => ({ random: seededRandom(7), clock: () => 0, stats: new EndpointStatsMap(), ...over });
const N = 100_000;
const shares = (b: RandomBalancer, exclude?: ReadonlySet<string>) => {
  const c: Record<string, number> = {};
  for (let i = 0; i < N; i++) {
    const id = b.pick({ exclude })?.id ?? 'none';
    c[id] = (c[id] ?? 0) + 1;
  }
  for (const id of Object.keys(c)) c[id]! /= N;
  return c;
};

describe('RandomBalancer', () => {
  it('picks uniformly when the weights are equal', () => {
    const s = shares(new RandomBalancer([ep('a'), ep('b'), ep('c'), ep('d')], policy, deps()));
    for (const id of ['a', 'b', 'c', 'd']) expect(Math.abs(s[id]! - 0.25)).toBeLessThan(0.01);
  });

  it('picks in proportion to the weights when they differ', () => {
    const s = shares(new RandomBalancer([ep('a', 1), ep('b', 2), ep('c', 3), ep('d', 4)], policy, deps()));
    expect(Math.abs(s.a! - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(s.b! - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(s.c! - 0.3)).toBeLessThan(0.01);
    expect(Math.abs(s.d! - 0.4)).toBeLessThan(0.01);
  });

  it('follows weightOf when given', () => {
    const s = shares(new RandomBalancer([ep('a'), ep('b')], policy, deps({ weightOf: (e) => (e.id === 'a' ? 9 : 1) })));
    expect(Math.abs(s.a! - 0.9)).toBeLessThan(0.01);
  });

  it('never picks an excluded endpoint and keeps the weights among the others', () => {
    const b = new RandomBalancer([ep('a', 1), ep('b', 3), ep('c', 6)], policy, deps());
    const s = shares(b, new Set(['c']));
    expect(s.c).toBeUndefined();
    expect(Math.abs(s.a! - 0.25)).toBeLessThan(0.01);
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new RandomBalancer([], policy, deps()).pick()).toBeUndefined();
  });
});
