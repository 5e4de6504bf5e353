import type { BalancerPolicy, Endpoint } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';
import { weightedIndex } from './candidates.js';
import type { EndpointStats } from './endpoint-stats.js';
import { powerOfTwoChoices } from './power-of-two.js';

/**
 * Least request, as Envoy does it. With equal weights: power of two choices
 * on the requests in flight, O(1) per pick. With unequal weights: a weighted
 * random pick with each endpoint's weight divided by `(active + 1)^bias`
 * (`policy.activeRequestBias`), so that with no load the shares follow the
 * weights and an endpoint that piles up requests gets fewer new ones. That
 * is O(n) per pick, since every endpoint's load counts; Envoy uses an EDF
 * schedule instead, which is O(log n) but reads a host's load only when it
 * is picked.
 *
 * With `deps.weightOf` (slow start) the weights are read on every pick, and
 * the O(1) path is used whenever they happen to be all equal.
 */
export class LeastRequestBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  readonly #random: () => number;
  readonly #weightOf: ((e: Endpoint) => number) | undefined;
  readonly #stats: readonly EndpointStats[];
  readonly #bias: number;
  /** Declared weights all equal and no weightOf: always the O(1) path. */
  readonly #equal: boolean;
  readonly #weights: Float64Array;
  readonly #active = (i: number): number => (this.#stats[i] as EndpointStats).active;

  constructor(endpoints: readonly Endpoint[], policy: BalancerPolicy, deps: BalancerDeps) {
    this.#endpoints = endpoints;
    this.#random = deps.random;
    this.#weightOf = deps.weightOf;
    this.#stats = endpoints.map((e) => deps.stats.get(e.id));
    this.#bias = policy.activeRequestBias;
    this.#weights = new Float64Array(endpoints.length);
    const first = endpoints[0]?.weight;
    this.#equal = deps.weightOf === undefined && endpoints.every((e) => e.weight === first);
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    const endpoints = this.#endpoints;
    const exclude = ctx?.exclude;
    let i: number;
    if (this.#equal || !this.#fillWeights(exclude)) {
      i = powerOfTwoChoices(endpoints, exclude, this.#random, this.#active);
    } else {
      i = weightedIndex(endpoints, exclude, this.#weights, this.#random);
    }
    return i < 0 ? undefined : endpoints[i];
  }

  /**
   * Fills the scratch weights with weight / (active + 1)^bias (0 for excluded
   * endpoints). Returns false, leaving them unusable, when the weights of the
   * endpoints not excluded are all equal: power of two choices is then the
   * better pick.
   */
  #fillWeights(exclude: ReadonlySet<string> | undefined): boolean {
    const endpoints = this.#endpoints;
    const weights = this.#weights;
    const weightOf = this.#weightOf;
    let first = -1;
    let differ = false;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i] as Endpoint;
      if (exclude?.has(e.id)) {
        weights[i] = 0;
        continue;
      }
      const raw = weightOf ? weightOf(e) : e.weight;
      const w = raw > 0 ? raw : 0;
      if (first < 0) first = w;
      else if (w !== first) differ = true;
      weights[i] = w;
    }
    if (!differ) return false;
    const bias = this.#bias;
    if (bias === 0) return true;
    for (let i = 0; i < endpoints.length; i++) {
      const w = weights[i] as number;
      if (w === 0) continue;
      const load = (this.#stats[i] as EndpointStats).active + 1;
      weights[i] = bias === 1 ? w / load : w / Math.pow(load, bias);
    }
    return true;
  }
}
