import { describe, expect, it } from 'vitest';
import { MAX_OBSERVED_ENDPOINTS, ObservationRecorder } from './observation-recorder.js';

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
        { service: 'orders', id: 'o1', ok: 2, failed: 2, latencyMs: 30 },
        { service: 'orders', id: 'o2', ok: 0, failed: 1 },
        { service: 'users', id: 'o1', ok: 1, failed: 0, latencyMs: 4 },
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
    expect(r.take(2000)?.endpoints).toEqual([{ service: 'orders', id: 'o1', ok: 1, failed: 0, latencyMs: 5 }]);
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
});
