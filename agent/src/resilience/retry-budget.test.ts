import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

function budget(budgetPercent: number, budgetMinPerSecond: number) {
  const time = { now: 0 };
  return { time, b: new RetryBudget({ budgetPercent, budgetMinPerSecond }, () => time.now) };
}

function requests(b: RetryBudget, n: number): void {
  for (let i = 0; i < n; i++) b.onRequest();
}

/** Retries admitted until the first refusal. */
function drain(b: RetryBudget): number {
  let n = 0;
  while (b.tryAcquire()) if (++n > 1e6) throw new Error('budget never runs out');
  return n;
}

describe('RetryBudget', () => {
  it('admits 20 % of 100 requests and refuses the 21st retry', () => {
    const { b } = budget(20, 0);
    requests(b, 100);
    expect(drain(b)).toBe(20);
    expect(b.tryAcquire()).toBe(false);
  });

  it('adds the per-second reserve over the 10 s window: 100 requests at 20 % + 1/s admit 30 retries, not 31', () => {
    const { b } = budget(20, 1);
    requests(b, 100);
    for (let i = 0; i < 30; i++) expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('lets a service without traffic retry from the reserve alone', () => {
    const { b } = budget(20, 0.5);
    expect(drain(b)).toBe(5);
  });

  it('does not round a fractional budget up', () => {
    const { b } = budget(20, 0.05); // reserve 0.5
    expect(b.tryAcquire()).toBe(false);
    requests(b, 2); // 0.4 + 0.5 = 0.9
    expect(b.tryAcquire()).toBe(false);
    requests(b, 1); // 0.6 + 0.5 = 1.1
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
  });

  it('admits no retry at all with 0 % and no reserve', () => {
    const { b } = budget(0, 0);
    requests(b, 1000);
    expect(b.tryAcquire()).toBe(false);
  });

  it('earns budget only from requests, not from admitted retries', () => {
    const { b } = budget(50, 0);
    requests(b, 10);
    expect(drain(b)).toBe(5);
  });

  it('refills as the window slides past old requests and retries', () => {
    const { b, time } = budget(20, 0);
    requests(b, 100); // bucket [0 s, 1 s)
    expect(drain(b)).toBe(20);

    time.now = 5_000;
    requests(b, 100); // 200 requests, 20 retries in the window
    expect(drain(b)).toBe(20);

    time.now = 9_999; // the first second is still inside
    expect(b.tryAcquire()).toBe(false);

    time.now = 10_000; // it left: 100 requests and 20 retries (those of 5 s) remain
    expect(b.tryAcquire()).toBe(false);
    requests(b, 5);
    expect(drain(b)).toBe(1);

    time.now = 15_000; // the window is [6 s, 16 s): 5 requests and 1 retry, those of 10 s
    expect(b.tryAcquire()).toBe(false);
    requests(b, 10); // 15 requests: 3 retries, 1 of them spent
    expect(drain(b)).toBe(2);
  });

  it('forgets everything after a long quiet spell', () => {
    const { b, time } = budget(20, 0);
    requests(b, 100);
    expect(drain(b)).toBe(20);
    time.now = 3_600_000;
    expect(b.tryAcquire()).toBe(false);
    requests(b, 5);
    expect(drain(b)).toBe(1);
  });

  it('treats a clock that steps back as standing still', () => {
    const { b, time } = budget(20, 0);
    time.now = 50_000;
    requests(b, 10);
    time.now = 40_000;
    requests(b, 10);
    expect(drain(b)).toBe(4);
    time.now = 50_999;
    expect(b.tryAcquire()).toBe(false);
  });
});
