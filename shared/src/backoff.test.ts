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
