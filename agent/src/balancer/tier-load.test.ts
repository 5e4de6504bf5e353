import type { TierPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { tierLoads } from './tier-load.js';

const spill: TierPolicy = {
  mode: 'spill',
  overprovisioningFactor: 1.4,
  panicThresholdPercent: 50,
  zoneMinHealthyPercent: 70,
};
const standby: TierPolicy = { ...spill, mode: 'active-standby' };
const t = (healthy: number, total: number) => ({ healthy, total });
const close = (actual: number[], expected: number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 9));
};

describe('tierLoads, spill', () => {
  it('gives tier 0 its overprovisioned health and spills the rest to tier 1', () => {
    close(tierLoads([t(5, 10), t(10, 10)], spill).loads, [0.7, 0.3]);
    close(tierLoads([t(7, 10), t(10, 10)], spill).loads, [0.98, 0.02]);
  });

  it('keeps all traffic on tier 0 while it is healthy enough after overprovisioning', () => {
    close(tierLoads([t(10, 10), t(10, 10)], spill).loads, [1, 0]);
    close(tierLoads([t(8, 10), t(10, 10)], spill).loads, [1, 0]);
  });

  it('spills down more than one tier, each capped by its own health', () => {
    close(tierLoads([t(2, 10), t(3, 10), t(10, 10)], spill).loads, [0.28, 0.42, 0.3]);
  });

  it('normalises by total health when the tiers together are short of capacity', () => {
    // Health 0.28 and 0.42 sum to 0.7: shares 0.4 and 0.6.
    close(tierLoads([t(2, 10), t(3, 10)], spill).loads, [0.4, 0.6]);
  });

  it('sends everything to the lowest tier with endpoints when nothing is healthy', () => {
    const r = tierLoads([t(0, 0), t(0, 5), t(0, 5)], spill);
    close(r.loads, [0, 1, 0]);
    expect(r.panic).toEqual([false, true, true]);
  });

  it('gives empty tiers in between no load', () => {
    close(tierLoads([t(5, 10), t(0, 0), t(10, 10)], spill).loads, [0.7, 0, 0.3]);
  });

  it('gives no load at all without endpoints', () => {
    expect(tierLoads([], spill)).toEqual({ loads: [], panic: [] });
    expect(tierLoads([t(0, 0)], spill)).toEqual({ loads: [0], panic: [false] });
  });

  it('honours another overprovisioning factor', () => {
    close(tierLoads([t(5, 10), t(10, 10)], { ...spill, overprovisioningFactor: 1 }).loads, [0.5, 0.5]);
  });
});

describe('tierLoads, active-standby', () => {
  it('sends everything to the primary while it has a healthy endpoint', () => {
    close(tierLoads([t(1, 10), t(10, 10)], standby).loads, [1, 0]);
  });

  it('hands everything to the backup when the primary has none, and back when it recovers', () => {
    close(tierLoads([t(0, 10), t(10, 10)], standby).loads, [0, 1]);
    close(tierLoads([t(0, 10), t(0, 0), t(2, 2)], standby).loads, [0, 0, 1]);
    close(tierLoads([t(3, 10), t(10, 10)], standby).loads, [1, 0]);
  });

  it('stays on the lowest tier with endpoints when nothing is healthy', () => {
    close(tierLoads([t(0, 0), t(0, 3), t(0, 3)], standby).loads, [0, 1, 0]);
  });
});

describe('tierLoads, panic', () => {
  it('flags a tier strictly below the threshold', () => {
    expect(tierLoads([t(4, 10), t(5, 10), t(10, 10)], spill).panic).toEqual([true, false, false]);
  });

  it('is off with a threshold of 0', () => {
    expect(tierLoads([t(0, 10)], { ...spill, panicThresholdPercent: 0 }).panic).toEqual([false]);
  });

  it('applies in active-standby too', () => {
    expect(tierLoads([t(1, 10), t(10, 10)], standby).panic).toEqual([true, false]);
  });
});
