import type { CircuitBreakerPolicy } from '@meshlet/shared';
import { MAX_TIMER_MS, systemTimers, type TimerHandle, type Timers } from './timers.js';

/** Why a {@link CircuitBreaker} refused: its pending queue was full, or the wait for a slot ran out. */
export type CircuitOpenReason = 'max_pending' | 'pending_timeout';

/** What {@link CircuitBreaker.acquire} resolves with when the request must be refused (a 503 for the caller). */
export interface CircuitOpen {
  readonly open: CircuitOpenReason;
}

/** Gives a slot back. Calling it again is a no-op, so an error path that releases twice cannot free a slot it does not hold. */
export type CircuitRelease = () => void;

interface Waiter {
  readonly resolve: (outcome: CircuitRelease | CircuitOpen) => void;
  timer: TimerHandle | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

const OPEN_MAX_PENDING: CircuitOpen = Object.freeze({ open: 'max_pending' });
const OPEN_PENDING_TIMEOUT: CircuitOpen = Object.freeze({ open: 'pending_timeout' });
// Settled promises may be shared: every refusal for a full queue reuses this one.
const REFUSED_MAX_PENDING: Promise<CircuitRelease | CircuitOpen> = Promise.resolve(OPEN_MAX_PENDING);

/**
 * Envoy's circuit breaker for one service as one caller sees it: at most
 * `maxConcurrent` requests in flight; beyond that up to `maxPending` wait in
 * FIFO order for a slot; the rest are refused at once.
 *
 * A released slot goes straight to the oldest waiter rather than back to the
 * pool, so a request arriving just then cannot overtake the queue, and so
 * `pending > 0` always means every slot is taken.
 *
 * Each grant is a fresh release closure guarding a flag: the one allocation
 * on the fast path, and the price of making a double release harmless (a
 * shared release with a counter could not tell a second release of the same
 * grant from the release of another).
 */
export class CircuitBreaker {
  readonly #maxConcurrent: number;
  readonly #maxPending: number;
  readonly #timers: Timers;
  #active = 0;
  #pending = 0;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;

  constructor(policy: CircuitBreakerPolicy, timers: Timers = systemTimers) {
    this.#maxConcurrent = policy.maxConcurrent;
    this.#maxPending = policy.maxPending;
    this.#timers = timers;
  }

  /** Slots in use (requests in flight, waiters handed a slot included). */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot. */
  get pending(): number {
    return this.#pending;
  }

  /** The fast path: a release function when a slot is free now, else `undefined` (then call {@link acquire} to queue). */
  tryAcquireSync(): CircuitRelease | undefined {
    if (this.#active >= this.#maxConcurrent) return undefined;
    this.#active++;
    return this.#grant();
  }

  /**
   * Resolves with a release function once a slot is free (at once when one
   * is); resolves `{ open: 'max_pending' }` at once when all slots are taken
   * and `maxPending` requests already wait (with `maxPending` 0: whenever
   * all slots are taken); resolves `{ open: 'pending_timeout' }` when no slot
   * came free within `timeoutMs`. A non-finite `timeoutMs` waits without limit.
   * Never rejects.
   */
  acquire(timeoutMs: number): Promise<CircuitRelease | CircuitOpen> {
    const release = this.tryAcquireSync();
    if (release !== undefined) return Promise.resolve(release);
    if (this.#pending >= this.#maxPending) return REFUSED_MAX_PENDING;
    return new Promise((resolve) => {
      const waiter: Waiter = { resolve, timer: undefined, prev: this.#tail, next: undefined };
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#pending++;
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = this.#timers.setTimeout(
          () => {
            waiter.timer = undefined;
            this.#unlink(waiter);
            resolve(OPEN_PENDING_TIMEOUT);
          },
          Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS),
        );
      }
    });
  }

  #grant(): CircuitRelease {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release();
    };
  }

  #release(): void {
    const next = this.#head;
    if (next === undefined) {
      this.#active--;
      return;
    }
    // Hand the slot over: `active` stays as it is.
    this.#unlink(next);
    if (next.timer !== undefined) this.#timers.clearTimeout(next.timer);
    next.resolve(this.#grant());
  }

  #unlink(waiter: Waiter): void {
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.#pending--;
  }
}
