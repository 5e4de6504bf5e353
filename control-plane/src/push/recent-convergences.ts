import type { Convergence } from './pusher.js';

/** The newest convergences, oldest first, for `/v1/convergence`. */
export class RecentConvergences {
  readonly #max: number;
  readonly #list: Convergence[] = [];

  /** `max`: how many to keep. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Keeps `c`, dropping the oldest beyond the limit. */
  add(c: Convergence): void {
    this.#list.push(c);
    if (this.#list.length > this.#max) this.#list.shift();
  }

  /** The convergences kept, oldest first. */
  list(): readonly Convergence[] {
    return this.#list;
  }
}
