import type { Endpoint, SlowStartPolicy } from '@meshlet/shared';

/** The smallest weight {@link SlowStart.weightOf} returns, so that a weighted balancer never divides by zero. */
const MIN_WEIGHT = 1e-6;

/**
 * Slow start: an endpoint that has just become routable (a new instance, or
 * one back from unhealthy or from an outlier ejection) gets a reduced weight
 * that ramps up linearly from `minWeightPercent` of its weight to the full
 * weight over `windowMs`, so that a cold instance (empty caches, JIT not warm,
 * connection pools empty) is not handed its full share at once.
 *
 * The caller decides who ramps, by calling {@link SlowStart.begin}: it calls
 * it only for endpoints that appear after the first routing table. The
 * endpoints present at startup start at full weight; otherwise a restarted
 * agent would put its whole service into slow start and, with every endpoint
 * equally reduced, gain nothing but a distorted ramp.
 *
 * Unlike Envoy, whose factor is `max(minWeight, elapsed / window)`, the ramp
 * here is the straight line from `minWeight` at `begin` to 1 at the end of the
 * window. An endpoint never begun, or whose window has ended, has factor 1.
 */
export class SlowStart {
  readonly #windowMs: number;
  readonly #minFactor: number;
  readonly #clock: () => number;
  /** Start time (clock ms) of each endpoint still ramping. */
  readonly #started = new Map<string, number>();

  /** `clock` returns milliseconds (monotonic preferred, such as `performance.now`). */
  constructor(policy: SlowStartPolicy, clock: () => number) {
    this.#windowMs = policy.windowMs;
    this.#minFactor = Math.min(1, Math.max(0, policy.minWeightPercent / 100));
    this.#clock = clock;
  }

  /** Notes that an endpoint became routable (new, or returned from unhealthy or ejected): its ramp starts (again) now. */
  begin(id: string): void {
    if (this.#windowMs <= 0) return;
    this.#started.set(id, this.#clock());
  }

  /** Weight multiplier in (0, 1]: `minWeightPercent / 100` at `begin`, 1 once `windowMs` has passed, and 1 when slow start is off. */
  factor(id: string): number {
    const start = this.#started.get(id);
    if (start === undefined) return 1;
    const elapsed = this.#clock() - start;
    if (elapsed >= this.#windowMs) {
      this.#started.delete(id);
      return 1;
    }
    // A clock that stepped back counts as no time elapsed, not as a negative ramp.
    const t = Math.max(0, elapsed) / this.#windowMs;
    return this.#minFactor + (1 - this.#minFactor) * t;
  }

  /** The endpoint's weight times its factor, never below a small positive number. */
  weightOf(e: Endpoint): number {
    return Math.max(MIN_WEIGHT, e.weight * this.factor(e.id));
  }

  /** Forgets an endpoint (it left the table): it will be at full weight unless begun again. */
  forget(id: string): void {
    this.#started.delete(id);
  }

  /** Number of endpoints still ramping (an ended window is counted until its factor is next read). */
  get ramping(): number {
    return this.#started.size;
  }
}
