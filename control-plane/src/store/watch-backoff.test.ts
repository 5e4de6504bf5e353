import { describe, expect, it } from 'vitest';
import { WATCH_BACKOFF, WatchBackoff } from './watch-backoff.js';

describe('WatchBackoff', () => {
  it('stays within maxMs however many attempts failed (etcd3 default: up to 30 s)', () => {
    let b = new WatchBackoff({ ...WATCH_BACKOFF, random: () => 0.999 });
    const durations: number[] = [];
    for (let i = 0; i < 200; i++) {
      durations.push(b.duration);
      b = b.next();
    }
    expect(Math.max(...durations)).toBeLessThanOrEqual(WATCH_BACKOFF.maxMs);
    expect(durations[0]).toBeLessThanOrEqual(WATCH_BACKOFF.initialMs);
    expect(durations.at(-1)).toBeGreaterThan(WATCH_BACKOFF.maxMs / 2);
  });

  it('never waits 0 ms, so a stream that fails at once does not spin', () => {
    const b = new WatchBackoff({ ...WATCH_BACKOFF, random: () => 0 });
    expect(b.duration).toBeGreaterThanOrEqual(10);
    expect(b.next().next().duration).toBeGreaterThanOrEqual(10);
  });

  it('grows with the attempts', () => {
    const b = new WatchBackoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 });
    expect([b.duration, b.next().duration, b.next().next().duration]).toEqual([50, 100, 200]);
  });
});
