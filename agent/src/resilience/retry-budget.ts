import type { RetryPolicy } from '@meshlet/shared';

/** Length of the sliding window a {@link RetryBudget} counts over. */
export const RETRY_BUDGET_WINDOW_MS = 10_000;
/** Width of one bucket of that window. */
export const RETRY_BUDGET_BUCKET_MS = 1_000;

const BUCKETS = RETRY_BUDGET_WINDOW_MS / RETRY_BUDGET_BUCKET_MS;
const WINDOW_SECONDS = RETRY_BUDGET_WINDOW_MS / 1000;
// Absorbs float error in percent x requests (e.g. 30 x 7 / 100), so a budget of exactly N admits N.
const EPSILON = 1e-9;

/**
 * A retry budget in the manner of Linkerd and Envoy's `retry_budget`: retries
 * may add at most a fixed fraction of load on top of the requests themselves,
 * so that retries cannot turn a struggling service's trouble into a retry
 * storm, while a quiet service can still retry a few times.
 *
 * The rule, over a sliding window of the last {@link RETRY_BUDGET_WINDOW_MS}
 * (10 s in 1 s buckets: the current, partly elapsed second and the nine
 * before it, so the window really spans 9 to 10 s):
 *
 *     a retry may go out  iff  retries + 1 <= requests x budgetPercent / 100
 *                                             + budgetMinPerSecond x 10
 *
 * where `requests` counts {@link onRequest} calls (first attempts only: a
 * retry does not earn budget for further retries) and `retries` counts
 * retries already admitted by {@link tryAcquire}, both inside the window. So
 * 100 requests at 20 % with no reserve admit 20 retries and refuse the 21st;
 * the reserve `budgetMinPerSecond x 10` is a constant allowance per window,
 * not per second. As buckets leave the window their requests and retries stop
 * counting, which is how the budget refills.
 *
 * The clock is injected; a clock that steps back is treated as standing still.
 */
export class RetryBudget {
  readonly #percent: number;
  readonly #reserve: number;
  readonly #clock: () => number;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #requestsTotal = 0;
  #retriesTotal = 0;
  /** Index (time / bucket width) of the newest bucket. */
  #head: number;

  constructor(policy: Pick<RetryPolicy, 'budgetPercent' | 'budgetMinPerSecond'>, clock: () => number) {
    this.#percent = policy.budgetPercent / 100;
    this.#reserve = policy.budgetMinPerSecond * WINDOW_SECONDS;
    this.#clock = clock;
    this.#head = Math.floor(clock() / RETRY_BUDGET_BUCKET_MS);
  }

  /** Counts a request (its first attempt). */
  onRequest(): void {
    const slot = this.#advance();
    this.#requests[slot]! += 1;
    this.#requestsTotal += 1;
  }

  /** May one more retry go out? If so, it is counted against the budget. */
  /** Whether {@link tryAcquire} would admit a retry now, without taking it. */
  canAcquire(): boolean {
    this.#advance();
    return this.#retriesTotal + 1 <= this.#requestsTotal * this.#percent + this.#reserve + EPSILON;
  }

  tryAcquire(): boolean {
    const slot = this.#advance();
    if (this.#retriesTotal + 1 > this.#requestsTotal * this.#percent + this.#reserve + EPSILON) return false;
    this.#retries[slot]! += 1;
    this.#retriesTotal += 1;
    return true;
  }

  /** Drops the buckets that slid out of the window; returns the slot of the current bucket. */
  #advance(): number {
    const now = Math.floor(this.#clock() / RETRY_BUDGET_BUCKET_MS);
    if (now > this.#head) {
      if (now - this.#head >= BUCKETS) {
        this.#requests.fill(0);
        this.#retries.fill(0);
        this.#requestsTotal = 0;
        this.#retriesTotal = 0;
      } else {
        for (let b = this.#head + 1; b <= now; b++) {
          const slot = slotOf(b);
          this.#requestsTotal -= this.#requests[slot]!;
          this.#retriesTotal -= this.#retries[slot]!;
          this.#requests[slot] = 0;
          this.#retries[slot] = 0;
        }
      }
      this.#head = now;
    }
    return slotOf(this.#head);
  }
}

/** Ring slot of bucket index `b`; a clock before the epoch gives negative indexes. */
function slotOf(b: number): number {
  return ((b % BUCKETS) + BUCKETS) % BUCKETS;
}
