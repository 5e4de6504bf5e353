import { type BalancerPolicy, type Endpoint, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { EndpointStatsMap } from './endpoint-stats.js';
import { LeastRequestBalancer } from './least-request.js';

const ep = (id: string, weight = 1): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight, labels: {} });
const policy = (over: Partial<BalancerPolicy> = {}): BalancerPolicy => ({
  kind: 'least_request',
  activeRequestBias: 1,
  ewmaDecayMs: 10_000,
  ewmaDefaultLatencyMs: 10,
  ringMinSize: 1024,
  maglevTableSize: 65537,
  ...over,
});
const deps = (over: Partial<BalancerDeps> = {}): BalancerDeps => ({ random: seededRandom(3), clock: () => 0, stats: new EndpointStatsMap(), ...over });
const N = 100_000;
const shares = (b: LeastRequestBalancer, exclude?: ReadonlySet<string>) => {
  const c: Record<string, number> = {};
  for (let i = 0; i < N; i++) {
    const id = b.pick({ exclude })?.id ?? 'none';
    c[id] = (c[id] ?? 0) + 1;
  }
  for (const id of Object.keys(c)) c[id]! /= N;
  return c;
};

describe('LeastRequestBalancer, equal weights (power of two choices)', () => {
  it('prefers less loaded endpoints: the better of two random ones wins', () => {
    const d = deps();
    const eps = [ep('idle'), ep('one'), ep('two'), ep('busy')];
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
    const eps = Array.from({ length: 10 }, (_, i) => ep(`e${i}`));
    const b = new LeastRequestBalancer(eps, policy(), d);
    for (let i = 0; i < 10_000; i++) d.stats.get(b.pick()!.id).active++;
    const active = eps.map((e) => d.stats.get(e.id).active);
    expect(Math.max(...active) - Math.min(...active)).toBeLessThanOrEqual(3);
  });

  it('uses power of two choices when weightOf gives equal weights', () => {
    const d = deps({ weightOf: () => 7 });
    const eps = [ep('a'), ep('b')];
    d.stats.get('a').active = 1;
    const s = shares(new LeastRequestBalancer(eps, policy(), d));
    expect(s.b).toBe(1);
  });

  it('never picks an excluded endpoint, and returns undefined when all are', () => {
    const d = deps();
    d.stats.get('a').active = 5;
    const b = new LeastRequestBalancer([ep('a'), ep('b'), ep('c')], policy(), d);
    const s = shares(b, new Set(['b', 'c']));
    expect(s.a).toBe(1);
    const t = shares(b, new Set(['b']));
    expect(t.c).toBe(1);
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints, the only endpoint with one', () => {
    expect(new LeastRequestBalancer([], policy(), deps()).pick()).toBeUndefined();
    expect(new LeastRequestBalancer([ep('solo')], policy(), deps()).pick()?.id).toBe('solo');
  });
});

describe('LeastRequestBalancer, unequal weights', () => {
  it('follows the weights when nothing is in flight', () => {
    const s = shares(new LeastRequestBalancer([ep('a', 1), ep('b', 3)], policy(), deps()));
    expect(Math.abs(s.a! - 0.25)).toBeLessThan(0.01);
  });

  it('divides a weight by (active + 1)^bias', () => {
    const d = deps();
    d.stats.get('b').active = 5;
    // a: 1 / 1; b: 3 / 6 = 0.5, so a gets 2/3.
    expect(Math.abs(shares(new LeastRequestBalancer([ep('a', 1), ep('b', 3)], policy(), d)).a! - 2 / 3)).toBeLessThan(0.01);
    // bias 2: b: 3 / 36, so a gets 12/13.
    expect(Math.abs(shares(new LeastRequestBalancer([ep('a', 1), ep('b', 3)], policy({ activeRequestBias: 2 }), d)).a! - 12 / 13)).toBeLessThan(0.01);
    // bias 0: load ignored.
    expect(Math.abs(shares(new LeastRequestBalancer([ep('a', 1), ep('b', 3)], policy({ activeRequestBias: 0 }), d)).a! - 0.25)).toBeLessThan(0.01);
  });

  it('reads weights from weightOf', () => {
    const s = shares(new LeastRequestBalancer([ep('a'), ep('b')], policy(), deps({ weightOf: (e) => (e.id === 'a' ? 0.5 : 1) })));
    expect(Math.abs(s.a! - 1 / 3)).toBeLessThan(0.01);
  });

  it('never picks an excluded endpoint', () => {
    const s = shares(new LeastRequestBalancer([ep('a', 1), ep('b', 2), ep('c', 3)], policy(), deps()), new Set(['c']));
    expect(s.c).toBeUndefined();
    expect(Math.abs(s.a! - 1 / 3)).toBeLessThan(0.01);
  });
});
