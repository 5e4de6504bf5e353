import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, latencyP99, MAX_OBSERVED_ENDPOINTS, ObservationRecorder } from './observation-recorder.js';

describe('ObservationRecorder', () => {
  it('reports nothing for a window without attempts, and still starts a new window', () => {
    const r = new ObservationRecorder(1000);
    expect(r.take(2000)).toBeUndefined();
    r.record('orders', 'o1', false, 10);
    // The window is measured from the last take, not from the first record.
    expect(r.take(2500)?.windowMs).toBe(500);
  });

  it('counts per service and endpoint, with the mean latency of the answered attempts', () => {
    const r = new ObservationRecorder(0);
    r.record('orders', 'o1', false, 10);
    r.record('orders', 'o1', false, 30);
    r.record('orders', 'o1', true, 50); // answered 503: failed, but its latency counts
    r.record('orders', 'o1', true, -1); // connect error: no answer, no latency
    r.record('orders', 'o2', true, -1);
    r.record('users', 'o1', false, 4);
    expect(r.take(1003)).toEqual({
      type: 'observations',
      windowMs: 1003,
      endpoints: [
        { service: 'orders', id: 'o1', ok: 2, failed: 2, latencyMs: 30, latencyP99Ms: 50 },
        { service: 'orders', id: 'o2', ok: 0, failed: 1 },
        { service: 'users', id: 'o1', ok: 1, failed: 0, latencyMs: 4, latencyP99Ms: 4 },
      ],
    });
  });

  it('starts every count again after a report, and forgets endpoints quiet for a whole window', () => {
    const r = new ObservationRecorder(0);
    r.record('orders', 'o1', false, 10);
    r.record('orders', 'o2', false, 10);
    r.take(1000);
    r.record('orders', 'o2', true, -1);
    expect(r.take(2000)?.endpoints).toEqual([{ service: 'orders', id: 'o2', ok: 0, failed: 1 }]);
    expect(r.take(3000)).toBeUndefined();
  });

  it('reports an ejection in the window it happened, even without attempts, and only there', () => {
    const r = new ObservationRecorder(0);
    r.record('orders', 'o1', true, -1);
    r.ejected('orders', 'o1');
    r.ejected('orders', 'o2');
    expect(r.take(1000)?.endpoints).toEqual([
      { service: 'orders', id: 'o1', ok: 0, failed: 1, ejected: true },
      { service: 'orders', id: 'o2', ok: 0, failed: 0, ejected: true },
    ]);
    r.record('orders', 'o1', false, 5);
    expect(r.take(2000)?.endpoints).toEqual([
      { service: 'orders', id: 'o1', ok: 1, failed: 0, latencyMs: 5, latencyP99Ms: 5 },
    ]);
  });

  it('reports a window of at least 1 ms', () => {
    const r = new ObservationRecorder(5);
    r.record('orders', 'o1', false, 1);
    expect(r.take(5)?.windowMs).toBe(1);
  });

  it(`sends at most ${MAX_OBSERVED_ENDPOINTS} endpoints in one report`, () => {
    const r = new ObservationRecorder(0);
    for (let i = 0; i < MAX_OBSERVED_ENDPOINTS + 5; i++) r.record('orders', `o${i}`, false, 1);
    expect(r.take(1000)?.endpoints).toHaveLength(MAX_OBSERVED_ENDPOINTS);
    // What did not fit is dropped with the rest of the window, not carried into the next one.
    expect(r.take(2000)).toBeUndefined();
  });

  describe('latencyP99Ms', () => {
    it('is the bucket of the 99th percentile, interpolated inside it: 990 fast answers and 10 slow ones', () => {
      const r = new ObservationRecorder(0);
      for (let i = 0; i < 990; i++) r.record('orders', 'o1', false, 3);
      for (let i = 0; i < 10; i++) r.record('orders', 'o1', false, 700);
      const o = r.take(1000)?.endpoints[0];
      // Rank 990 is the last of the 3 ms answers: the (2, 4] bucket, interpolated to its top, capped by nothing slower.
      expect(o?.latencyP99Ms).toBe(4);
      // One more slow answer puts rank 991 in the (512, 1024] bucket: 1 of its 11, near its bottom.
      for (let i = 0; i < 989; i++) r.record('orders', 'o1', false, 3);
      for (let i = 0; i < 11; i++) r.record('orders', 'o1', false, 700);
      const p99 = r.take(2000)?.endpoints[0]?.latencyP99Ms as number;
      expect(p99).toBeGreaterThan(512);
      expect(p99).toBeLessThanOrEqual(700);
    });

    it('is within a bucket of the exact percentile over a spread of latencies, and never above the slowest', () => {
      const r = new ObservationRecorder(0);
      const latencies = Array.from({ length: 5000 }, (_, i) => 0.2 + ((i * 7919) % 5000) / 10); // 0.2 to 500 ms, uniform
      for (const l of latencies) r.record('orders', 'o1', false, l);
      const exact = [...latencies].sort((a, b) => a - b)[Math.ceil(5000 * 0.99) - 1] as number;
      const p99 = r.take(1000)?.endpoints[0]?.latencyP99Ms as number;
      expect(p99).toBeGreaterThan(exact / 2);
      expect(p99).toBeLessThanOrEqual(Math.max(...latencies) + 0.05); // reported to 0.1 ms
      expect(Math.abs(p99 - exact) / exact).toBeLessThan(0.05); // linear inside a bucket fits a uniform spread
    });

    it('counts failed answers but not attempts without one, and is absent when nothing answered', () => {
      const r = new ObservationRecorder(0);
      r.record('orders', 'o1', true, 40); // a 503 after 40 ms
      r.record('orders', 'o1', true, -1);
      r.record('orders', 'o2', true, -1);
      expect(r.take(1000)?.endpoints).toEqual([
        { service: 'orders', id: 'o1', ok: 0, failed: 2, latencyMs: 40, latencyP99Ms: 40 },
        { service: 'orders', id: 'o2', ok: 0, failed: 1 },
      ]);
    });

    it('starts from empty buckets each window', () => {
      const r = new ObservationRecorder(0);
      for (let i = 0; i < 100; i++) r.record('orders', 'o1', false, 2000);
      r.take(1000);
      r.record('orders', 'o1', false, 1);
      expect(r.take(2000)?.endpoints[0]?.latencyP99Ms).toBe(1);
    });

    it('reports the slowest for latencies past the last bound, capped at the schema maximum', () => {
      const buckets = new Uint32Array(LATENCY_BUCKETS);
      buckets[LATENCY_BUCKETS - 1] = 1;
      expect(latencyP99(buckets, 1, 400_000)).toBe(400_000);
      const r = new ObservationRecorder(0);
      r.record('orders', 'o1', false, 5_000_000);
      expect(r.take(1000)?.endpoints[0]?.latencyP99Ms).toBe(3_600_000);
    });
  });
});
