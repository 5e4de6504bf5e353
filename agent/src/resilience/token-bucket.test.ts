import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

function bucket(requestsPerSecond: number, burst?: number) {
  const time = { now: 1_000_000 };
  const b = new TokenBucket(burst === undefined ? { requestsPerSecond } : { requestsPerSecond, burst }, () => time.now);
  const take = (n: number) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if (b.tryTake()) ok++;
    return ok;
  };
  return { time, take };
}

describe('TokenBucket', () => {
  it('lets a full burst through, then refuses', () => {
    const { take } = bucket(10);
    expect(take(10)).toBe(10);
    expect(take(5)).toBe(0);
  });

  it('refills at requestsPerSecond', () => {
    const { time, take } = bucket(10);
    take(10);
    time.now += 99;
    expect(take(1)).toBe(0);
    time.now += 1;
    expect(take(2)).toBe(1);
    time.now += 350; // 3.5 tokens
    expect(take(10)).toBe(3);
    time.now += 50; // the half token left plus another half
    expect(take(10)).toBe(1);
  });

  it('never holds more than the burst, however long it was idle', () => {
    const { time, take } = bucket(10);
    time.now += 3_600_000;
    expect(take(100)).toBe(10);
  });

  it('takes an explicit burst', () => {
    const { time, take } = bucket(100, 3);
    expect(take(10)).toBe(3);
    time.now += 1000;
    expect(take(1000)).toBe(3);
  });

  it('holds at least one token below one request per second', () => {
    const { time, take } = bucket(0.5);
    expect(take(5)).toBe(1);
    time.now += 1999;
    expect(take(1)).toBe(0);
    time.now += 1;
    expect(take(5)).toBe(1);
  });

  it('rounds a fractional rate up for the default burst', () => {
    expect(bucket(2.5).take(10)).toBe(3);
  });

  it('adds nothing when the clock steps back', () => {
    const { time, take } = bucket(10);
    take(10);
    time.now -= 10_000;
    expect(take(1)).toBe(0);
    time.now += 10_100; // 100 ms after the last refill
    expect(take(5)).toBe(1);
  });

  it('does not lose tokens to float error over many small refills', () => {
    const { time, take } = bucket(3);
    take(3);
    let ok = 0;
    for (let i = 0; i < 3000; i++) {
      time.now += 1;
      ok += take(1);
    }
    expect(ok).toBe(9);
  });
});
