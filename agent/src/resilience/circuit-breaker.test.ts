import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, type CircuitOpen, type CircuitRelease } from './circuit-breaker.js';

/** Lets settled promises run their callbacks. */
const flush = () => vi.advanceTimersByTimeAsync(0);

function grant(outcome: CircuitRelease | CircuitOpen | undefined): CircuitRelease {
  if (typeof outcome !== 'function') throw new Error(`expected a slot, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('CircuitBreaker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lets maxConcurrent requests in on the fast path and no more', () => {
    const cb = new CircuitBreaker({ maxConcurrent: 2, maxPending: 0 });
    const a = cb.tryAcquireSync();
    const b = cb.tryAcquireSync();
    expect(typeof a).toBe('function');
    expect(typeof b).toBe('function');
    expect(cb.tryAcquireSync()).toBeUndefined();
    expect(cb.active).toBe(2);
    a?.();
    expect(cb.active).toBe(1);
    expect(typeof cb.tryAcquireSync()).toBe('function');
  });

  it('resolves acquire with a slot at once when one is free', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 0 });
    const release = grant(await cb.acquire(1000));
    expect(cb.active).toBe(1);
    release();
    expect(cb.active).toBe(0);
  });

  it('refuses with max_pending at once when the queue is full', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 2 });
    cb.tryAcquireSync();
    void cb.acquire(1000);
    void cb.acquire(1000);
    let outcome: unknown;
    void cb.acquire(1000).then((o) => (outcome = o));
    await Promise.resolve();
    expect(outcome).toEqual({ open: 'max_pending' });
    expect(cb.pending).toBe(2);
  });

  it('refuses with max_pending whenever all slots are taken and maxPending is 0', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 0 });
    cb.tryAcquireSync();
    expect(await cb.acquire(1000)).toEqual({ open: 'max_pending' });
    expect(cb.pending).toBe(0);
  });

  it('hands released slots to waiters in FIFO order', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 3 });
    const first = grant(cb.tryAcquireSync());
    const order: string[] = [];
    const releases = new Map<string, CircuitRelease>();
    for (const name of ['a', 'b', 'c'])
      void cb.acquire(10_000).then((o) => {
        order.push(name);
        releases.set(name, grant(o));
      });
    expect(cb.pending).toBe(3);

    first();
    await flush();
    expect(order).toEqual(['a']);
    releases.get('a')?.();
    await flush();
    releases.get('b')?.();
    await flush();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(cb).toMatchObject({ active: 1, pending: 0 });
    releases.get('c')?.();
    expect(cb.active).toBe(0);
  });

  it('keeps the slot taken while handing it over, so a newcomer cannot overtake the queue', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 1 });
    const first = grant(cb.tryAcquireSync());
    const waiting = cb.acquire(10_000);
    first();
    expect(cb).toMatchObject({ active: 1, pending: 0 });
    expect(cb.tryAcquireSync()).toBeUndefined();
    grant(await waiting)();
    expect(cb.active).toBe(0);
  });

  it('times a waiter out with pending_timeout after timeoutMs, not before', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 1 });
    cb.tryAcquireSync();
    let outcome: unknown;
    void cb.acquire(100).then((o) => (outcome = o));
    await vi.advanceTimersByTimeAsync(99);
    expect(outcome).toBeUndefined();
    expect(cb.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toEqual({ open: 'pending_timeout' });
    expect(cb).toMatchObject({ active: 1, pending: 0 });
  });

  it('skips a timed-out waiter and does not time out a waiter that got its slot', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 2 });
    const first = grant(cb.tryAcquireSync());
    const outcomes: unknown[] = [];
    void cb.acquire(50).then((o) => outcomes.push(['short', typeof o === 'function' ? 'slot' : o]));
    void cb.acquire(1_000).then((o) => outcomes.push(['long', typeof o === 'function' ? 'slot' : o]));
    await vi.advanceTimersByTimeAsync(50);
    first();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(outcomes).toEqual([
      ['short', { open: 'pending_timeout' }],
      ['long', 'slot'],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('makes a second release of the same grant a no-op', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 2, maxPending: 1 });
    const a = grant(cb.tryAcquireSync());
    grant(cb.tryAcquireSync());
    let outcome: unknown;
    void cb.acquire(10_000).then((o) => (outcome = o));
    a();
    a();
    await flush();
    expect(typeof outcome).toBe('function');
    expect(cb).toMatchObject({ active: 2, pending: 0 });
    (outcome as CircuitRelease)();
    (outcome as CircuitRelease)();
    expect(cb.active).toBe(1);
  });

  it('waits without limit when timeoutMs is not finite', async () => {
    const cb = new CircuitBreaker({ maxConcurrent: 1, maxPending: 1 });
    const first = grant(cb.tryAcquireSync());
    let outcome: unknown;
    void cb.acquire(Infinity).then((o) => (outcome = o));
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(outcome).toBeUndefined();
    first();
    await flush();
    expect(typeof outcome).toBe('function');
  });
});
