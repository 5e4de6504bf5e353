import type { BalancerPolicy, Endpoint } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';
import { hasExclusions, randomBelow, weightedIndex } from './candidates.js';

/**
 * Random choice, weighted when the weights differ. With static weights the
 * cumulative weights are computed once, and a pick is one draw and a binary
 * search (or a plain uniform draw when all weights are equal). With
 * `deps.weightOf` (slow start) the weights are read on every pick: O(n).
 * A draw that lands on an excluded endpoint is redrawn among the others.
 */
export class RandomBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  readonly #random: () => number;
  readonly #weightOf: ((e: Endpoint) => number) | undefined;
  /** Cumulative declared weights; undefined when they are all equal (a uniform draw). */
  readonly #cumulative: Float64Array | undefined;
  /** Scratch weights for the slow path. */
  readonly #weights: Float64Array;

  constructor(endpoints: readonly Endpoint[], _policy: BalancerPolicy, deps: BalancerDeps) {
    this.#endpoints = endpoints;
    this.#random = deps.random;
    this.#weightOf = deps.weightOf;
    this.#weights = new Float64Array(endpoints.length);
    const first = endpoints[0]?.weight;
    if (endpoints.some((e) => e.weight !== first)) {
      let sum = 0;
      this.#cumulative = Float64Array.from(endpoints, (e) => (sum += e.weight));
    }
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    const endpoints = this.#endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    const exclude = ctx?.exclude;
    if (this.#weightOf === undefined) {
      const e = endpoints[this.#staticIndex()] as Endpoint;
      if (!hasExclusions(exclude) || !exclude.has(e.id)) return e;
    }
    const weights = this.#weights;
    for (let i = 0; i < n; i++) {
      const e = endpoints[i] as Endpoint;
      const w = exclude?.has(e.id) ? 0 : this.#weightOf ? this.#weightOf(e) : e.weight;
      weights[i] = w > 0 ? w : 0;
    }
    const i = weightedIndex(endpoints, exclude, weights, this.#random);
    return i < 0 ? undefined : endpoints[i];
  }

  #staticIndex(): number {
    const cumulative = this.#cumulative;
    const n = this.#endpoints.length;
    if (cumulative === undefined) return randomBelow(this.#random, n);
    const r = this.#random() * (cumulative[n - 1] as number);
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) <= r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
