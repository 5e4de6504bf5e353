import { describe, expect, it } from 'vitest';
import { doubledHoldMs, FlapDamper } from './flap-damper.js';

const settings = { flapThreshold: 3, flapWindowMs: 60_000, holdDownMs: 10_000, maxHoldDownMs: 25_000 };

describe('FlapDamper', () => {
  it('holds an instance down on the fall after flapThreshold within the window', () => {
    const damper = new FlapDamper(settings);
    expect([damper.fall(0), damper.fall(1000), damper.fall(2000)]).toEqual([undefined, undefined, undefined]);
    expect(damper.heldUntil).toBe(0);
    expect(damper.fall(3000)).toEqual({ flaps: 4, holdMs: 10_000, heldUntil: 13_000 });
    expect(damper.heldUntil).toBe(13_000);
  });

  it('forgets falls older than the window', () => {
    const damper = new FlapDamper(settings);
    for (const t of [0, 1000, 2000]) damper.fall(t);
    expect(damper.fall(61_500)).toBeUndefined();
  });

  it('doubles each further hold-down up to maxHoldDownMs', () => {
    const damper = new FlapDamper(settings);
    for (const t of [0, 1000, 2000]) damper.fall(t);
    expect(damper.fall(3000)?.holdMs).toBe(10_000);
    expect(damper.fall(14_000)?.holdMs).toBe(20_000);
    expect(damper.fall(35_000)?.holdMs).toBe(25_000);
  });

  it('starts the doubling over a whole window after the last hold-down ended', () => {
    const damper = new FlapDamper({ ...settings, flapThreshold: 0 });
    expect(damper.fall(0)?.holdMs).toBe(10_000);
    expect(damper.fall(20_000)?.holdMs).toBe(20_000);
    // The last hold ended at 40 000; more than 60 000 later, the doubling starts over.
    expect(damper.fall(100_001)?.holdMs).toBe(10_000);
  });
});

describe('doubledHoldMs', () => {
  it('doubles the base per earlier hold, capped', () => {
    expect([0, 1, 2, 3].map((n) => doubledHoldMs(5000, n, 30_000))).toEqual([5000, 10_000, 20_000, 30_000]);
  });
});
