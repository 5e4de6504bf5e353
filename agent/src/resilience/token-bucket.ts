import type { RateLimitPolicy } from '@meshlet/shared';

// Absorbs float error from summing many small refills, so a bucket that should hold a whole token does.
const EPSILON = 1e-9;

/**
 * A token bucket, local to one caller: it holds up to `burst` tokens
 * (default max(1, ceil(requestsPerSecond)), one second of requests), starts
 * full, and refills continuously at `requestsPerSecond`. Each request takes
 * one token; with none left it is refused. The clock is injected; a clock
 * that steps back adds nothing.
 */
export class TokenBucket {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #clock: () => number;
  #tokens: number;
  #last: number;

  constructor(policy: RateLimitPolicy, clock: () => number) {
    this.#capacity = policy.burst ?? Math.max(1, Math.ceil(policy.requestsPerSecond));
    this.#perMs = policy.requestsPerSecond / 1000;
    this.#clock = clock;
    this.#tokens = this.#capacity;
    this.#last = clock();
  }

  /** Takes a token if there is one; `false` means the request is over the limit. */
  tryTake(): boolean {
    const now = this.#clock();
    if (now > this.#last) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#last) * this.#perMs);
      this.#last = now;
    }
    if (this.#tokens + EPSILON < 1) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }
}
