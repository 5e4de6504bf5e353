import { describe, expect, it } from 'vitest';
import { HealthThreshold } from './health-threshold.js';

describe('HealthThreshold', () => {
  it('lets the first probe decide at once', () => {
    const up = new HealthThreshold(3, 3);
    expect(up.record(true)).toBe(true);
    expect(up.status).toBe('healthy');
    const down = new HealthThreshold(3, 3);
    expect(down.record(false)).toBe(true);
    expect(down.status).toBe('unhealthy');
  });

  it('needs unhealthyThreshold failures in a row to leave, and a success resets the streak', () => {
    const h = new HealthThreshold(2, 3);
    h.record(true);
    expect([h.record(false), h.record(false), h.record(true), h.record(false), h.record(false)]).toEqual([false, false, false, false, false]);
    expect(h.status).toBe('healthy');
    expect(h.record(false)).toBe(true);
    expect(h.status).toBe('unhealthy');
  });

  it('needs healthyThreshold successes in a row to come back', () => {
    const h = new HealthThreshold(2, 1);
    h.record(false);
    expect(h.record(true)).toBe(false);
    expect(h.record(false)).toBe(false);
    expect(h.record(true)).toBe(false);
    expect(h.record(true)).toBe(true);
    expect(h.status).toBe('healthy');
  });
});
