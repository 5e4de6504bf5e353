import { describe, expect, it } from 'vitest';
import { ServiceStats } from './service-stats.js';

const report = (service: string, ok: number, failed: number, latencyP99Ms?: number) => ({
  type: 'observations' as const,
  windowMs: 1000,
  endpoints: [{ service, id: `${service}-1`, ok, failed, ...(latencyP99Ms === undefined ? {} : { latencyP99Ms }) }],
});

describe('ServiceStats', () => {
  it('sums callers over a sliding window: rate, error ratio and the highest p99', () => {
    let now = 1_000_000;
    const s = new ServiceStats(10_000, () => now);
    expect(s.view('web')).toBeUndefined();
    s.record(report('web', 90, 10, 12));
    s.record(report('web', 100, 0, 30));
    now += 1000;
    s.record(report('web', 200, 0, 5));
    expect(s.view('web')).toEqual({ rps: 40, errorRatio: 10 / 400, p99Ms: 30, windowMs: 10_000 });
    now += 9500;
    // The first second left the window.
    expect(s.view('web')).toEqual({ rps: 20, errorRatio: 0, p99Ms: 5, windowMs: 10_000 });
    now += 1000;
    expect(s.view('web')).toBeUndefined();
  });
});
