import type { Convergence } from './pusher.js';

/** The newest convergences, oldest first, for `/v1/convergence`. */
export class RecentConvergences {
  readonly #max: number;
  readonly #list: Convergence[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  add(c: Convergence): void {
    this.#list.push(c);
    if (this.#list.length > this.#max) this.#list.shift();
  }

  list(): readonly Convergence[] {
    return this.#list;
  }
}
