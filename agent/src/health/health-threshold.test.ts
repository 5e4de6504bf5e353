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
    expect([h.record(false), h.record(false), h.record(true), h.record(false), h.record(false)]).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
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

function run(h: HealthThreshold, results: boolean[]): Array<{ changed: boolean; status: string }> {
  return results.map((ok) => ({ changed: h.record(ok), status: h.status }));
}

// The change signal, thresholds of 1, and streaks that run on past a transition.
describe('HealthThreshold streaks', () => {
  it('starts unknown', () => {
    expect(new HealthThreshold(2, 2).status).toBe('unknown');
  });

  it('reports a change only on the probe that flips the status', () => {
    const h = new HealthThreshold(3, 2);
    expect(run(h, [true, true, false, false, false, true, true, true, true])).toEqual([
      { changed: true, status: 'healthy' },
      { changed: false, status: 'healthy' },
      { changed: false, status: 'healthy' },
      { changed: true, status: 'unhealthy' },
      { changed: false, status: 'unhealthy' },
      { changed: false, status: 'unhealthy' },
      { changed: false, status: 'unhealthy' },
      { changed: true, status: 'healthy' },
      { changed: false, status: 'healthy' },
    ]);
  });

  it('flips on every differing probe with thresholds of 1', () => {
    const h = new HealthThreshold(1, 1);
    expect(run(h, [false, true, false, false, true]).map((r) => r.status)).toEqual([
      'unhealthy',
      'healthy',
      'unhealthy',
      'unhealthy',
      'healthy',
    ]);
  });

  it('starts the recovery streak over after a failure', () => {
    const h = new HealthThreshold(3, 1);
    run(h, [false]);
    // ok, ok, fail, ok, ok: never three in a row.
    expect(run(h, [true, true, false, true, true]).every((r) => r.status === 'unhealthy')).toBe(true);
    expect(h.record(true)).toBe(true);
    expect(h.status).toBe('healthy');
  });

  it('keeps thresholds independent per direction', () => {
    const h = new HealthThreshold(1, 4);
    run(h, [true]);
    expect(run(h, [false, false, false]).every((r) => r.status === 'healthy')).toBe(true);
    expect(h.record(false)).toBe(true);
    expect(h.record(true)).toBe(true);
  });
});
