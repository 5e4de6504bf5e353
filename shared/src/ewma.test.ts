import { describe, expect, it } from 'vitest';
import { PeakEwma } from './ewma.js';

const DECAY = 1000;

describe('PeakEwma', () => {
  it('has no estimate before the first sample, then that sample', () => {
    const e = new PeakEwma();
    expect(e.observed).toBe(false);
    expect(e.estimate(0, DECAY)).toBeUndefined();
    e.observe(20, 100, DECAY);
    expect(e.observed).toBe(true);
    expect(e.estimate(100, DECAY)).toBe(20);
  });

  it('jumps to a sample above the estimate at once (the peak)', () => {
    const e = new PeakEwma();
    e.observe(10, 0, DECAY);
    e.observe(500, 1, DECAY);
    expect(e.estimate(1, DECAY)).toBe(500);
  });

  it('moves towards a lower sample by 1 - exp(-elapsed / decay) of the way', () => {
    const e = new PeakEwma();
    e.observe(100, 0, DECAY);
    // Between samples the estimate decays to 100 * w; the sample then pulls it by (1 - w).
    e.observe(10, DECAY, DECAY);
    const w = Math.exp(-1);
    expect(e.estimate(DECAY, DECAY)).toBeCloseTo(100 * w * w + 10 * (1 - w), 10);
  });

  it('barely moves for a lower sample right after the previous one', () => {
    const e = new PeakEwma();
    e.observe(100, 0, DECAY);
    e.observe(1, 1, DECAY);
    expect(e.estimate(1, DECAY)).toBeGreaterThan(99.7);
  });

  it('decays towards zero without samples, so that an avoided endpoint is tried again', () => {
    const e = new PeakEwma();
    e.observe(1000, 0, DECAY);
    expect(e.estimate(DECAY, DECAY)).toBeCloseTo(1000 * Math.exp(-1), 8);
    expect(e.estimate(10 * DECAY, DECAY)).toBeLessThan(0.1);
  });

  it('does not change when read', () => {
    const a = new PeakEwma();
    const b = new PeakEwma();
    for (const x of [a, b]) x.observe(80, 0, DECAY);
    for (let t = 0; t < 500; t += 10) a.estimate(t, DECAY);
    a.observe(30, 500, DECAY);
    b.observe(30, 500, DECAY);
    expect(a.estimate(600, DECAY)).toBe(b.estimate(600, DECAY));
  });

  it('ignores a clock that steps back instead of inflating the estimate', () => {
    const e = new PeakEwma();
    e.observe(50, 1000, DECAY);
    expect(e.estimate(0, DECAY)).toBe(50);
    e.observe(40, 500, DECAY);
    expect(e.estimate(1000, DECAY)).toBe(50);
  });
});
