import type { BalancerPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { balancerDeps, balancerPolicy, endpoint, endpoints, pickShares } from './test-support/fixtures.js';

const policy = (over?: Partial<BalancerPolicy>) => balancerPolicy('peak_ewma', over);
let now = 0;
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(5, { clock: () => now, ...over });
const N = 100_000;
const shares = (b: PeakEwmaBalancer, exclude?: ReadonlySet<string>) => pickShares(() => b.pick({ exclude }), N);

describe('PeakEwmaBalancer', () => {
  it('prefers endpoints with lower latency', () => {
    now = 0;
    const d = deps();
    const eps = endpoints('fast', 'medium', 'slow');
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
    expect(shares(new PeakEwmaBalancer(endpoints('a', 'b'), policy(), d)).a).toBe(1);
  });

  it('takes an endpoint never measured to answer in ewmaDefaultLatencyMs', () => {
    now = 0;
    const d = deps();
    d.stats.get('known').observe(50, 0);
    expect(new PeakEwmaBalancer(endpoints('known', 'new'), policy({ ewmaDefaultLatencyMs: 10 }), d).pick()?.id).toBe(
      'new',
    );
    expect(new PeakEwmaBalancer(endpoints('known', 'new'), policy({ ewmaDefaultLatencyMs: 100 }), d).pick()?.id).toBe(
      'known',
    );
  });

  it('tries a slow endpoint again once its estimate has decayed', () => {
    now = 0;
    const d = deps();
    const b = new PeakEwmaBalancer(endpoints('a', 'b'), policy({ ewmaDecayMs: 1000 }), d);
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
    new PeakEwmaBalancer([endpoint('a')], policy({ ewmaDecayMs: 1234 }), d);
    expect(d.stats.get('a').decayMs).toBe(1234);
  });

  it('divides the cost by the weight, so a heavier or fully ramped endpoint is preferred', () => {
    now = 0;
    const d = deps();
    expect(shares(new PeakEwmaBalancer([endpoint('a', 2), endpoint('b', 1)], policy(), d)).a).toBe(1);
    expect(
      shares(new PeakEwmaBalancer(endpoints('a', 'b'), policy(), deps({ weightOf: (e) => (e.id === 'a' ? 0.1 : 1) })))
        .b,
    ).toBe(1);
  });

  it('never picks an excluded endpoint, and returns undefined when all are', () => {
    now = 0;
    const d = deps();
    d.stats.get('fast').observe(1, 0);
    const b = new PeakEwmaBalancer(endpoints('fast', 'x', 'y'), policy(), d);
    const s = shares(b, new Set(['fast']));
    expect(s.fast).toBeUndefined();
    expect(Math.abs(s.x! - 0.5)).toBeLessThan(0.01);
    expect(b.pick({ exclude: new Set(['fast', 'x', 'y']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new PeakEwmaBalancer([], policy(), deps()).pick()).toBeUndefined();
  });
});
