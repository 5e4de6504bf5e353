import { describe, expect, it } from 'vitest';
import { ServiceStats } from './service-stats.js';

const report = (service: string, ok: number, failed: number, latencyP99Ms?: number, windowMs = 1000) => ({
  type: 'observations' as const,
  windowMs,
  endpoints: [{ service, id: `${service}-1`, ok, failed, ...(latencyP99Ms === undefined ? {} : { latencyP99Ms }) }],
});

describe('ServiceStats', () => {
  it('sums callers: rate, error ratio and the highest p99 over the window', () => {
    let now = 1_000_000;
    const s = new ServiceStats(10_000, () => now);
    expect(s.view('web')).toBeUndefined();
    s.record(report('web', 90, 10, 12), undefined, 'a');
    s.record(report('web', 100, 0, 30), undefined, 'b');
    now += 1000;
    s.record(report('web', 200, 0, 5), undefined, 'a');
    // a: 300 requests over the 2 s its reports cover; b: 100 over 1 s.
    expect(s.view('web')).toEqual({ rps: 250, errorRatio: 10 / 400, p99Ms: 30, windowMs: 10_000 });
  });

  // issue 17: a steady 100 req/s read as about 90 (the window's count over the window's length, while the reports in
  // it cover less: the one being gathered is not in yet).
  it('steady rate reads exactly: N requests a second read N at every moment between reports', () => {
    let now = 5_000_000 + 370; // reports arrive at some phase of the second, not on its boundary
    const s = new ServiceStats(10_000, () => now);
    const n = 100;
    for (let i = 0; i < 30; i++) {
      s.record(report('web', n, 0), undefined, 'client');
      for (const phase of [0, 1, 250, 500, 999]) {
        now += phase;
        expect(s.view('web')?.rps).toBeCloseTo(n, 2);
        now -= phase;
      }
      now += 1000;
    }
  });

  it('steady rate reads exactly with two callers at different phases and another report interval', () => {
    let now = 7_000_000;
    const s = new ServiceStats(10_000, () => now);
    // caller a: 40 req/s, a report every second at phase 0; caller b: 60 req/s, a report every 5 s at phase 300 ms.
    for (let ms = 0; ms < 30_000; ms += 100) {
      now = 7_000_000 + ms;
      if (ms % 1000 === 0) s.record(report('web', 40, 0), undefined, 'a');
      if (ms % 5000 === 300) s.record(report('web', 300, 0, undefined, 5000), undefined, 'b');
      if (ms >= 5300) expect(s.view('web')?.rps).toBeCloseTo(100, 2);
    }
  });

  it('a caller that goes quiet fades out, and the service leaves once the window has passed', () => {
    let now = 9_000_000;
    const s = new ServiceStats(10_000, () => now);
    for (let i = 0; i < 10; i++) {
      s.record(report('web', 50, 0), undefined, 'client');
      now += 1000;
    }
    // The last report arrived 1 s ago and covers 1 s: nothing is missing yet.
    expect(s.view('web')?.rps).toBeCloseTo(50, 2);
    now += 4000;
    // 5 s since the last report: the 5 reports of the last 10 s (250 requests) cover 5 s, then 4 s of silence.
    expect(s.view('web')?.rps).toBeCloseTo(250 / 9, 2);
    now += 6000;
    expect(s.view('web')).toBeUndefined();
  });

  it('counts only the endpoints `known` admits', () => {
    const s = new ServiceStats(10_000, () => 0);
    s.record(report('web', 10, 0), (service) => service !== 'web', 'a');
    expect(s.view('web')).toBeUndefined();
  });
});
