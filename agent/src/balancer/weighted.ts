import type { BalancerPolicy, Endpoint } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';

/**
 * Smooth weighted round robin, nginx's algorithm: on each pick every
 * endpoint's current value grows by its weight, the largest wins and drops by
 * the sum of the weights. Over any window an endpoint's share stays within
 * one pick of its weight's share, and the picks of a heavy endpoint are
 * interleaved with the others rather than sent in a burst (weights 5, 1, 1
 * give a a b a c a a, not a a a a a b c).
 *
 * Weights are read on every pick (`deps.weightOf`, else the declared
 * weight), so slow start can ramp them. Excluded endpoints sit out the pick,
 * as nginx skips the peers already tried. The current values start at a
 * random fraction of each weight, drawn from `deps.random`, so that agents
 * built from the same table do not all send their first requests to the same
 * heavy endpoint. O(n) per pick, no allocation.
 */
export class WeightedBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  readonly #weightOf: ((e: Endpoint) => number) | undefined;
  readonly #current: Float64Array;

  constructor(endpoints: readonly Endpoint[], _policy: BalancerPolicy, deps: BalancerDeps) {
    this.#endpoints = endpoints;
    this.#weightOf = deps.weightOf;
    this.#current = new Float64Array(endpoints.length);
    for (let i = 0; i < endpoints.length; i++)
      this.#current[i] = deps.random() * this.#weight(endpoints[i] as Endpoint);
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    const exclude = ctx?.exclude;
    const endpoints = this.#endpoints;
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < endpoints.length; i++) {
      const e = endpoints[i] as Endpoint;
      if (exclude?.has(e.id)) continue;
      const w = this.#weight(e);
      const c = (current[i] as number) + w;
      current[i] = c;
      total += w;
      if (best < 0 || c > (current[best] as number)) best = i;
    }
    if (best < 0) return undefined;
    current[best] = (current[best] as number) - total;
    return endpoints[best];
  }

  #weight(e: Endpoint): number {
    const w = this.#weightOf ? this.#weightOf(e) : e.weight;
    return w > 0 ? w : 0;
  }
}
