/**
 * How many coordination requests may stay open at once on one agent (SSE
 * streams, long-polls, waits, campaigns): 192, below the admin listener's
 * 256 connections (`listeners.admin.limits.maxConnections`), so that an app
 * at its limit still leaves room for probes, scrapers and its own short calls.
 */
export const MAX_OPEN_COORDINATION_REQUESTS = 192;

/**
 * Counts the app's coordination requests that stay open (an events stream,
 * a long-poll, an acquire that waits, a campaign), so that a runaway app
 * cannot pin unbounded timers and watches in its agent: past the limit a new
 * one is refused (429) and the ones open go on.
 */
export class OpenRequests {
  readonly #max: number;
  #open = 0;

  constructor(max = MAX_OPEN_COORDINATION_REQUESTS) {
    this.#max = max;
  }

  /** How many are open now. */
  get open(): number {
    return this.#open;
  }

  /** The limit. */
  get max(): number {
    return this.#max;
  }

  /** Takes a place: a function that gives it back (once), or undefined when none is left. */
  take(): (() => void) | undefined {
    if (this.#open >= this.#max) return undefined;
    this.#open++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.#open--;
    };
  }
}
