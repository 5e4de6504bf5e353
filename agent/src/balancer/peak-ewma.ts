import type { BalancerPolicy, Endpoint } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';
import type { EndpointStats } from './endpoint-stats.js';
import { powerOfTwoChoices } from './power-of-two.js';

/**
 * Peak EWMA, Linkerd's default balancer: power of two choices where an
 * endpoint's cost is its latency estimate times (requests in flight + 1),
 * divided by its weight (a no-op when the weights are equal, and what lets
 * slow start hold back a new endpoint). The estimate is a peak EWMA (see
 * `PeakEwma` in `@meshlet/shared`): it jumps to a slow sample at once and
 * decays back, so a slow endpoint is avoided immediately and retried
 * gradually; `policy.ewmaDecayMs` is its time constant. An endpoint never
 * measured is taken to answer in `policy.ewmaDefaultLatencyMs`.
 *
 * Building the balancer sets the decay time of its endpoints' stats to
 * `policy.ewmaDecayMs`. O(1) per pick, one clock read.
 */
export class PeakEwmaBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  readonly #random: () => number;
  readonly #clock: () => number;
  readonly #weightOf: ((e: Endpoint) => number) | undefined;
  readonly #stats: readonly EndpointStats[];
  readonly #defaultMs: number;
  /** The time of the pick in progress, read once per pick for both candidates. */
  #now = 0;
  readonly #cost = (i: number): number => {
    const s = this.#stats[i] as EndpointStats;
    const e = this.#endpoints[i] as Endpoint;
    const w = this.#weightOf ? this.#weightOf(e) : e.weight;
    return (s.latency(this.#now, this.#defaultMs) * (s.active + 1)) / (w > 0 ? w : Number.MIN_VALUE);
  };

  constructor(endpoints: readonly Endpoint[], policy: BalancerPolicy, deps: BalancerDeps) {
    this.#endpoints = endpoints;
    this.#random = deps.random;
    this.#clock = deps.clock;
    this.#weightOf = deps.weightOf;
    this.#defaultMs = policy.ewmaDefaultLatencyMs;
    this.#stats = endpoints.map((e) => {
      const s = deps.stats.get(e.id);
      s.decayMs = policy.ewmaDecayMs;
      return s;
    });
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    this.#now = this.#clock();
    const i = powerOfTwoChoices(this.#endpoints, ctx?.exclude, this.#random, this.#cost);
    return i < 0 ? undefined : this.#endpoints[i];
  }
}
