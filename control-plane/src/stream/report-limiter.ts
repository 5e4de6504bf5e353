/** How many reports an agent may send: a sustained rate and a burst (`stream.reportsPerSecond`, `stream.reportBurst`). */
export interface ReportRate {
  perSecond: number;
  burst: number;
}

/**
 * A token bucket for one agent's reports: it starts full (`burst`) and
 * refills at `perSecond`; each report takes a token. The control plane's
 * own, not the agent's request limiter: the packages share no code but
 * `@meshlet/shared`, and this one is a dozen lines. The clock is passed in;
 * a clock that steps back adds nothing.
 */
export class ReportLimiter {
  readonly #rate: ReportRate;
  readonly #clock: () => number;
  #tokens: number;
  #last: number;

  constructor(rate: ReportRate, clock: () => number) {
    this.#rate = rate;
    this.#clock = clock;
    this.#tokens = rate.burst;
    this.#last = clock();
  }

  /** Takes a token if there is one; `false`: over the limit. */
  tryTake(): boolean {
    const now = this.#clock();
    if (now > this.#last) {
      this.#tokens = Math.min(this.#rate.burst, this.#tokens + ((now - this.#last) * this.#rate.perSecond) / 1000);
      this.#last = now;
    }
    if (this.#tokens < 1 - 1e-9) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }
}
