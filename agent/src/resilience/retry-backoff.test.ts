import { describe, expect, it } from 'vitest';
import { retryDelay } from './retry-backoff.js';

const policy = { backoffBaseMs: 25, backoffMaxMs: 250 };

describe('retryDelay', () => {
  it('draws below a ceiling that doubles from backoffBaseMs up to backoffMaxMs', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 10].map((a) => retryDelay(a, policy, top))).toEqual([24, 49, 99, 199, 249, 249]);
  });

  it('jitters over the whole range (full jitter)', () => {
    expect(retryDelay(2, policy, () => 0)).toBe(0);
    expect(retryDelay(2, policy, () => 0.5)).toBe(50);
  });

  it('gives 0 when the backoff is off', () => {
    expect(retryDelay(5, { backoffBaseMs: 0, backoffMaxMs: 0 }, () => 0.9)).toBe(0);
  });
});
