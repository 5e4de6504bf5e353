import { type BalancerPolicy, type Endpoint, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { EndpointStatsMap } from './endpoint-stats.js';
import { PeakEwmaBalancer } from './peak-ewma.js';

const ep = (id: string, weight = 1): Endpoint => ({ id, host: '127.0.0.1', port: 1, tier: 0, weight, labels: {} });
const policy = (over: Partial<BalancerPolicy> = {}): BalancerPolicy => ({
  kind: 'peak_ewma',
  activeRequestBias: 1,
  ewmaDecayMs: 10_000,
  ewmaDefaultLatencyMs: 10,
  ringMinSize: 1024,
  maglevTableSize: 65537,
  ...over,
});
let now = 0;
const deps = (over: Partial<BalancerDeps> = {}): BalancerDeps => ({ random: seededRandom(5), clock: () => now, stats: new EndpointStatsMap(), ...over });
const N = 100_000;
const shares = (b: PeakEwmaBalancer, exclude?: ReadonlySet<string>) => {
  const c: Record<string, number> = {};
  for (let i = 0; i < N; i++) {
    const id = b.pick({ exclude })?.id ?? 'none';
    c[id] = (c[id] ?? 0) + 1;
  }
  for (const id of Object.keys(c)) c[id]! /= N;
  return c;
};

describe('PeakEwmaBalancer', () => {
  it('prefers endpoints with lower latency', () => {
    now = 0;
    const d = deps();
    const eps = [ep('fast'), ep('medium'), ep('slow')];
    d.stats.get('fast').observe(5, 0);
    d.stats.get('medium').observe(20, 0);
    d.stats.get('slow').observe(200, 0);
    const s = shares(new PeakEwmaBalancer(eps, policy(), d));
    expect(Math.abs(s.fast! - 2 / 3)).toBeLessThan(0.01);
    expect(Math.abs(s.medium! - 1 / 3)).toBeLessThan(0.01);
    expect(s.slow).toBeUndefined();
  });

  it('weighs latency by the requests in flight', () => {
    now = 0;
    const d = deps();
    d.stats.get('a').observe(100, 0);
    d.stats.get('b').observe(10, 0);
    d.stats.get('b').active = 20; // 10 * 21 = 210 > 100 * 1
    expect(shares(new PeakEwmaBalancer([ep('a'), ep('b')], policy(), d)).a).toBe(1);
  });

  it('takes an endpoint never measured to answer in ewmaDefaultLatencyMs', () => {
    now = 0;
    const d = deps();
    d.stats.get('known').observe(50, 0);
    expect(new PeakEwmaBalancer([ep('known'), ep('new')], policy({ ewmaDefaultLatencyMs: 10 }), d).pick()?.id).toBe('new');
    expect(new PeakEwmaBalancer([ep('known'), ep('new')], policy({ ewmaDefaultLatencyMs: 100 }), d).pick()?.id).toBe('known');
  });

  it('tries a slow endpoint again once its estimate has decayed', () => {
    now = 0;
    const d = deps();
    const b = new PeakEwmaBalancer([ep('a'), ep('b')], policy({ ewmaDecayMs: 1000 }), d);
    d.stats.get('a').observe(500, 0);
    d.stats.get('b').observe(50, 0);
    expect(b.pick()?.id).toBe('b');
    now = 3000; // a: 500 e^-3 = 25 < b: 50 e^-3
    expect(b.pick()?.id).toBe('b');
    d.stats.get('b').observe(50, 3000);
    expect(b.pick()?.id).toBe('a');
  });

  it('sets the decay time of its endpoints from the policy', () => {
    const d = deps();
    new PeakEwmaBalancer([ep('a')], policy({ ewmaDecayMs: 1234 }), d);
    expect(d.stats.get('a').decayMs).toBe(1234);
  });

  it('divides the cost by the weight, so a heavier or fully ramped endpoint is preferred', () => {
    now = 0;
    const d = deps();
    expect(shares(new PeakEwmaBalancer([ep('a', 2), ep('b', 1)], policy(), d)).a).toBe(1);
    expect(shares(new PeakEwmaBalancer([ep('a'), ep('b')], policy(), deps({ weightOf: (e) => (e.id === 'a' ? 0.1 : 1) }))).b).toBe(1);
  });

  it('never picks an excluded endpoint, and returns undefined when all are', () => {
    now = 0;
    const d = deps();
    d.stats.get('fast').observe(1, 0);
    const b = new PeakEwmaBalancer([ep('fast'), ep('x'), ep('y')], policy(), d);
    const s = shares(b, new Set(['fast']));
    expect(s.fast).toBeUndefined();
    expect(Math.abs(s.x! - 0.5)).toBeLessThan(0.01);
    expect(b.pick({ exclude: new Set(['fast', 'x', 'y']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new PeakEwmaBalancer([], policy(), deps()).pick()).toBeUndefined();
  });
});
