import { describe, expect, it } from 'vitest';
import { SlowStart } from './slow-start.js';
import { endpoint } from './test-support/fixtures.js';

function setup(windowMs = 10_000, minWeightPercent = 10) {
  let now = 1_000;
  const clock = { advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
  return { clock, s: new SlowStart({ windowMs, minWeightPercent }, () => now) };
}

describe('SlowStart', () => {
  it('ramps the factor linearly from minWeightPercent to 1 over the window', () => {
    const { s, clock } = setup();
    s.begin('a');
    expect(s.factor('a')).toBeCloseTo(0.1, 9);
    clock.advance(2_500);
    expect(s.factor('a')).toBeCloseTo(0.325, 9);
    clock.advance(2_500);
    expect(s.factor('a')).toBeCloseTo(0.55, 9);
    clock.advance(4_999);
    expect(s.factor('a')).toBeLessThan(1);
    clock.advance(1);
    expect(s.factor('a')).toBe(1);
    clock.advance(60_000);
    expect(s.factor('a')).toBe(1);
  });

  it('leaves endpoints never begun at full weight', () => {
    const { s } = setup();
    s.begin('new');
    expect(s.factor('old')).toBe(1);
    expect(s.weightOf(endpoint('old', 7))).toBe(7);
    expect(s.weightOf(endpoint('new', 7))).toBeCloseTo(0.7, 9);
  });

  it('restarts the ramp when an endpoint returns again', () => {
    const { s, clock } = setup();
    s.begin('a');
    clock.advance(8_000);
    expect(s.factor('a')).toBeCloseTo(0.82, 9);
    s.begin('a');
    expect(s.factor('a')).toBeCloseTo(0.1, 9);
  });

  it('is off with a window of 0', () => {
    const { s } = setup(0);
    s.begin('a');
    expect(s.factor('a')).toBe(1);
    expect(s.ramping).toBe(0);
  });

  it('forgets an endpoint', () => {
    const { s } = setup();
    s.begin('a');
    expect(s.ramping).toBe(1);
    s.forget('a');
    expect(s.factor('a')).toBe(1);
    expect(s.ramping).toBe(0);
  });

  it('treats a clock that stepped back as no time elapsed', () => {
    const { s, clock } = setup();
    s.begin('a');
    clock.advance(-5_000);
    expect(s.factor('a')).toBeCloseTo(0.1, 9);
  });

  it('never returns a weight of zero or below', () => {
    const { s } = setup(10_000, 1);
    s.begin('a');
    expect(s.weightOf(endpoint('a', 1))).toBeCloseTo(0.01, 9);
    expect(s.weightOf(endpoint('a', 1))).toBeGreaterThan(0);
  });
});
