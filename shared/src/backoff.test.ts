import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

const opts = { initialMs: 100, maxMs: 5000 };

describe('backoffDelay', () => {
  it('picks uniformly below a ceiling that doubles per attempt (full jitter)', () => {
    expect(backoffDelay(0, opts, () => 0)).toBe(0);
    expect(backoffDelay(0, opts, () => 0.999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(400);
  });

  it('never exceeds the cap, even after many attempts', () => {
    expect(backoffDelay(6, opts, () => 0.999)).toBe(4995);
    expect(backoffDelay(10_000, opts, () => 0.999)).toBe(4995);
  });
});

// The exact jitter bounds, the doubling, the cap and attempt numbers far
// beyond what a reconnect loop reaches.

/** The largest double below 1, the top of what Math.random can return. */
const almostOne = 1 - Number.EPSILON / 2;

describe('backoffDelay bounds', () => {
  it('returns 0 for a random 0 at any attempt', () => {
    for (const attempt of [0, 1, 5, 30, 1_000_000]) expect(backoffDelay(attempt, opts, () => 0)).toBe(0);
  });

  it('stays strictly below the ceiling for the largest random', () => {
    expect(almostOne).toBeLessThan(1);
    expect(backoffDelay(0, opts, () => almostOne)).toBe(99);
    expect(backoffDelay(20, opts, () => almostOne)).toBe(4999);
  });

  it('doubles the ceiling per attempt until the cap', () => {
    const ceilings = Array.from({ length: 9 }, (_, attempt) => backoffDelay(attempt, opts, () => almostOne) + 1);
    expect(ceilings).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it('spreads picks across the whole range at a given attempt (full jitter, not equal jitter)', () => {
    const picks = [0, 0.25, 0.5, 0.75].map((r) => backoffDelay(2, opts, () => r));
    expect(picks).toEqual([0, 100, 200, 300]);
  });

  it('caps at maxMs when initialMs alone exceeds it', () => {
    expect(backoffDelay(0, { initialMs: 10_000, maxMs: 300 }, () => almostOne)).toBe(299);
  });

  it('gives a finite integer within the cap for huge attempt numbers', () => {
    const uncapped = { initialMs: 1000, maxMs: Number.MAX_SAFE_INTEGER };
    for (const attempt of [31, 1024, 1e9, Number.MAX_SAFE_INTEGER, Infinity]) {
      for (const o of [opts, uncapped]) {
        const d = backoffDelay(attempt, o, () => almostOne);
        expect(Number.isSafeInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(o.maxMs);
      }
    }
    // Without a useful cap, growth stops at 2^30 times the initial delay.
    expect(backoffDelay(1e9, uncapped, () => 0.5)).toBe(1000 * 2 ** 29);
  });
});
