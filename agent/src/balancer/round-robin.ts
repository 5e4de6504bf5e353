import type { Endpoint } from '@meshlet/shared';
import type { Balancer, PickContext } from './balancer.js';

/** Round robin over a fixed endpoint list; skips excluded endpoints. Ignores weights. */
export class RoundRobinBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  #next: number;

  /** `start` offsets the first pick so that many agents do not all begin on the same endpoint. */
  constructor(endpoints: readonly Endpoint[], start = 0) {
    this.#endpoints = endpoints;
    this.#next = endpoints.length > 0 ? start % endpoints.length : 0;
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    const exclude = ctx?.exclude;
    const n = this.#endpoints.length;
    for (let i = 0; i < n; i++) {
      const e = this.#endpoints[this.#next] as Endpoint;
      this.#next = (this.#next + 1) % n;
      if (!exclude?.has(e.id)) return e;
    }
    return undefined;
  }
}
