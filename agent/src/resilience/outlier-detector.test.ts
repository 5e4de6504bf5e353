import type { OutlierPolicy } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutlierDetector } from './outlier-detector.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `e${i}`);

function detector(policy: Partial<OutlierPolicy> = {}, endpoints = ids(10)) {
  const changes: string[][] = [];
  const d = new OutlierDetector(
    { consecutiveFailures: 5, baseEjectionMs: 1000, maxEjectionPercent: 10, ...policy },
    () => Date.now(),
    (ejected) => changes.push([...ejected].sort()),
  );
  d.setEndpoints(endpoints);
  return { d, changes };
}

function fail(d: OutlierDetector, id: string, n: number): void {
  for (let i = 0; i < n; i++) d.onFailure(id);
}

describe('OutlierDetector', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('ejects an endpoint after 5 consecutive failures, not 4', () => {
    const { d, changes } = detector();
    fail(d, 'e1', 4);
    expect(d.ejected.size).toBe(0);
    expect(changes).toEqual([]);
    d.onFailure('e1');
    expect([...d.ejected]).toEqual(['e1']);
    expect(changes).toEqual([['e1']]);
  });

  it('starts the count again after a success', () => {
    const { d } = detector();
    fail(d, 'e1', 4);
    d.onSuccess('e1');
    fail(d, 'e1', 4);
    expect(d.ejected.size).toBe(0);
    d.onFailure('e1');
    expect(d.ejected.has('e1')).toBe(true);
  });

  it('counts each endpoint on its own', () => {
    const { d } = detector({ maxEjectionPercent: 100 });
    for (let i = 0; i < 4; i++) {
      d.onFailure('e1');
      d.onFailure('e2');
    }
    expect(d.ejected.size).toBe(0);
  });

  it('returns an endpoint when its time is up and tells onChange, without any traffic', () => {
    const { d, changes } = detector();
    fail(d, 'e1', 5);
    vi.advanceTimersByTime(999);
    expect(d.ejected.has('e1')).toBe(true);
    vi.advanceTimersByTime(1);
    expect(d.ejected.size).toBe(0);
    expect(changes).toEqual([['e1'], []]);
  });

  it('ejects for base x times ejected', () => {
    const { d } = detector();
    const lengths: number[] = [];
    for (let n = 0; n < 3; n++) {
      fail(d, 'e1', 5);
      const start = Date.now();
      while (d.ejected.has('e1')) vi.advanceTimersByTime(100);
      lengths.push(Date.now() - start);
    }
    expect(lengths).toEqual([1000, 2000, 3000]);
  });

  it('lets the multiplier decay by one per base period back in service', () => {
    const { d } = detector();
    /** How long an ejection starting now lasts. */
    const ejection = () => {
      fail(d, 'e1', 5);
      const start = Date.now();
      while (d.ejected.has('e1')) vi.advanceTimersByTime(100);
      return Date.now() - start;
    };
    expect([ejection(), ejection(), ejection()]).toEqual([1000, 2000, 3000]);
    vi.advanceTimersByTime(1999); // one whole period back: 3 -> 2
    expect(ejection()).toBe(3000);
    vi.advanceTimersByTime(2000); // two periods: 3 -> 1
    expect(ejection()).toBe(2000);
    vi.advanceTimersByTime(60_000); // healthy for long: starts over
    expect(ejection()).toBe(1000);
  });

  it('caps an ejection at 300 s, as Envoy caps it by default', () => {
    const { d } = detector({ baseEjectionMs: 100_000 });
    const lengths: number[] = [];
    for (let n = 0; n < 4; n++) {
      fail(d, 'e1', 5);
      const start = Date.now();
      while (d.ejected.has('e1')) vi.advanceTimersByTime(1000);
      lengths.push(Date.now() - start);
    }
    expect(lengths).toEqual([100_000, 200_000, 300_000, 300_000]);
  });

  it('ejects at most maxEjectionPercent of the endpoints at once', () => {
    const { d } = detector({ maxEjectionPercent: 20 }, ids(10));
    for (const id of ['e1', 'e2', 'e3']) fail(d, id, 5);
    expect([...d.ejected].sort()).toEqual(['e1', 'e2']);
  });

  it('ejects at least one endpoint even when the percentage rounds to none', () => {
    const { d } = detector({ maxEjectionPercent: 10 }, ids(3));
    fail(d, 'e0', 5);
    fail(d, 'e1', 5);
    expect([...d.ejected]).toEqual(['e0']);
  });

  it('ejects a held-back endpoint at its next failure once there is room', () => {
    const { d, changes } = detector({ maxEjectionPercent: 10 }, ids(3));
    fail(d, 'e0', 5);
    fail(d, 'e1', 5);
    vi.advanceTimersByTime(1000);
    expect(d.ejected.size).toBe(0);
    d.onFailure('e1');
    expect([...d.ejected]).toEqual(['e1']);
    expect(changes).toEqual([['e0'], [], ['e1']]);
  });

  it('ignores failures and successes of an ejected endpoint', () => {
    const { d } = detector();
    fail(d, 'e1', 5);
    fail(d, 'e1', 20);
    d.onSuccess('e1');
    vi.advanceTimersByTime(1000);
    expect(d.ejected.size).toBe(0);
    fail(d, 'e1', 4); // back with a fresh count
    expect(d.ejected.size).toBe(0);
  });

  it('does nothing when consecutiveFailures is 0', () => {
    const { d, changes } = detector({ consecutiveFailures: 0 });
    fail(d, 'e1', 1000);
    expect(d.ejected.size).toBe(0);
    expect(changes).toEqual([]);
  });

  it('forgets endpoints dropped by setEndpoints, returning them if ejected', () => {
    const { d, changes } = detector({ maxEjectionPercent: 100 });
    fail(d, 'e1', 5);
    fail(d, 'e2', 4);
    d.setEndpoints(['e0', 'e3']);
    expect(d.ejected.size).toBe(0);
    expect(changes).toEqual([['e1'], []]);
    expect(vi.getTimerCount()).toBe(0);
    fail(d, 'e1', 5); // unknown now
    expect(d.ejected.size).toBe(0);
    d.setEndpoints(['e0', 'e2', 'e3']);
    fail(d, 'e2', 4); // the count before it left is gone
    expect(d.ejected.size).toBe(0);
  });

  it('keeps the state of endpoints that stay listed', () => {
    const { d, changes } = detector();
    fail(d, 'e1', 5);
    d.setEndpoints([...ids(10), 'e10']);
    expect(d.ejected.has('e1')).toBe(true);
    expect(changes).toEqual([['e1']]);
  });

  it('hands onChange a new set each time and never changes one already handed out', () => {
    const seen: ReadonlySet<string>[] = [];
    const d = new OutlierDetector(
      { consecutiveFailures: 1, baseEjectionMs: 1000, maxEjectionPercent: 100 },
      () => Date.now(),
      (s) => seen.push(s),
    );
    d.setEndpoints(['a', 'b']);
    d.onFailure('a');
    d.onFailure('b');
    expect(seen.map((s) => [...s])).toEqual([['a'], ['a', 'b']]);
    expect(seen[0]).not.toBe(seen[1]);
  });

  it('stops its timers on close', () => {
    const { d, changes } = detector();
    fail(d, 'e1', 5);
    d.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    fail(d, 'e2', 5);
    expect(changes).toEqual([['e1']]);
  });
});
