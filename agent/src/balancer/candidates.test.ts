import { describe, expect, it } from 'vitest';
import { countAllowed, hasExclusions, nthAllowed, randomBelow, weightedIndex } from './candidates.js';
import { endpoints } from './test-support/fixtures.js';

const four = endpoints('a', 'b', 'c', 'd');

describe('candidates', () => {
  it('counts and ranks the endpoints not excluded', () => {
    const ex = new Set(['b', 'zzz']);
    expect(hasExclusions(ex)).toBe(true);
    expect(hasExclusions(new Set())).toBe(false);
    expect(countAllowed(four, ex)).toBe(3);
    expect(countAllowed(four, undefined)).toBe(4);
    expect([0, 1, 2, 3].map((r) => nthAllowed(four, ex, r))).toEqual([0, 2, 3, -1]);
  });

  it('keeps a draw in range even when the source returns 1', () => {
    expect(randomBelow(() => 1, 4)).toBe(3);
    expect(randomBelow(() => 0.999, 4)).toBe(3);
    expect(randomBelow(() => 0, 4)).toBe(0);
  });

  it('draws by weight, skipping zero weights', () => {
    const w = Float64Array.from([0, 1, 0, 3]);
    expect(weightedIndex(four, undefined, w, () => 0)).toBe(1);
    expect(weightedIndex(four, undefined, w, () => 0.24)).toBe(1);
    expect(weightedIndex(four, undefined, w, () => 0.25)).toBe(3);
    expect(weightedIndex(four, undefined, w, () => 1)).toBe(3);
  });

  it('falls back to a uniform draw among the allowed when every weight is 0, and to -1 when none is allowed', () => {
    const zero = new Float64Array(4);
    expect(weightedIndex(four, new Set(['a']), zero, () => 0)).toBe(1);
    expect(weightedIndex(four, new Set(['a', 'b', 'c', 'd']), zero, () => 0)).toBe(-1);
  });
});
