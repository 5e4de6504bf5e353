/**
 * The startup grace period of a {@link Pusher}: right after a start the
 * registry holds only the agents that have reconnected so far, and a table
 * built from it would tell every caller that the others are gone. While it
 * lasts nothing is pushed; `end` is called once when it ends, to push what
 * the registry holds by then.
 */
export class StartupGrace {
  readonly #clock: () => number;
  readonly #until: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { clock: () => number; graceMs: number; end: () => void }) {
    this.#clock = options.clock;
    this.#until = options.clock() + options.graceMs;
    if (options.graceMs > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        options.end();
      }, options.graceMs);
    }
  }

  /** True while the grace period lasts. */
  active(): boolean {
    return this.#timer !== undefined && this.#clock() < this.#until;
  }

  /** Stops the timer: `end` is not called. */
  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }
}
