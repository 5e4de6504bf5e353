/**
 * A peak exponentially weighted moving average, the latency estimate of
 * Finagle's and Linkerd's peak-EWMA balancers:
 *
 * - a sample above the current estimate replaces it at once (the "peak"), so
 *   that an endpoint that turns slow is avoided immediately;
 * - a sample at or below it pulls the estimate towards itself with weight
 *   `1 - exp(-elapsed / decay)`, `elapsed` being the time since the previous
 *   sample, so that recovery is gradual;
 * - between samples the estimate decays towards zero with the same time
 *   constant. Finagle and Linkerd do this by observing a zero on every read;
 *   it is what lets the balancer probe again an endpoint it has been avoiding,
 *   which would otherwise never get the sample that clears its bad estimate.
 *
 * Unlike Finagle and Linkerd, reading does not change the state: the decay is
 * computed from the last sample, so the estimate does not depend on how often
 * the balancer happens to look at it. `decayMs` is a parameter of each call so
 * that one average can serve whichever policy is current.
 */
export class PeakEwma {
  #estimate = 0;
  #stamp = 0;
  #observed = false;

  /** Whether any sample was observed; before one, {@link PeakEwma.estimate} returns `undefined`. */
  get observed(): boolean {
    return this.#observed;
  }

  /** Adds a sample taken at `now` (ms, from the same clock as every other call). */
  observe(sample: number, now: number, decayMs: number): void {
    if (!this.#observed) {
      this.#observed = true;
      this.#estimate = sample;
      this.#stamp = now;
      return;
    }
    const w = decayWeight(now - this.#stamp, decayMs);
    const current = this.#estimate * w;
    this.#estimate = sample > current ? sample : current * w + sample * (1 - w);
    // A clock that steps back must not make later samples count double.
    if (now > this.#stamp) this.#stamp = now;
  }

  /** The estimate at `now`, or `undefined` before the first sample. */
  estimate(now: number, decayMs: number): number | undefined {
    return this.#observed ? this.#estimate * decayWeight(now - this.#stamp, decayMs) : undefined;
  }
}

/** `exp(-elapsed / decay)`: 1 for no elapsed time (or a clock that stepped back), towards 0 for long gaps. */
function decayWeight(elapsedMs: number, decayMs: number): number {
  if (elapsedMs <= 0) return 1;
  if (decayMs <= 0) return 0;
  return Math.exp(-elapsedMs / decayMs);
}
