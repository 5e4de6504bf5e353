import { type BalancerPolicy, buildRing, type Endpoint, type HashRing, ringIndex } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';
import { hasExclusions } from './candidates.js';
import type { EndpointStats } from './endpoint-stats.js';
import { membersInTableOrder, randomHash, walkToCandidate } from './hash-walk.js';

/**
 * Ring hash (Ketama-style consistent hashing): the ring is built once from
 * the endpoints' ids and declared weights, with at least
 * `policy.ringMinSize` points (see `buildRing` in `@meshlet/shared`), and a
 * request goes to the owner of the first point at or after its hash, found by
 * binary search. The same key goes to the same endpoint on every agent, and
 * removing an endpoint moves only its own keys (while the ring stays above
 * its minimum size).
 *
 * Excluded endpoints, and with `policy.boundedLoadFactor` overloaded ones,
 * are passed over by walking on clockwise (see {@link walkToCandidate}). A
 * request without a hash lands at a random point, which picks an endpoint in
 * proportion to its share of the ring.
 */
export class RingHashBalancer implements Balancer {
  /** The ring; exposed for its checksum in the ACK. */
  readonly ring: HashRing;
  readonly #members: readonly Endpoint[];
  readonly #stats: readonly EndpointStats[];
  readonly #random: () => number;
  readonly #factor: number | undefined;

  constructor(endpoints: readonly Endpoint[], policy: BalancerPolicy, deps: BalancerDeps) {
    this.ring = deps.tables?.takeRing(policy, endpoints) ?? buildRing(endpoints, policy.ringMinSize);
    this.#members = membersInTableOrder(endpoints, this.ring.ids);
    this.#stats = this.#members.map((e) => deps.stats.get(e.id));
    this.#random = deps.random;
    this.#factor = policy.boundedLoadFactor;
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    if (this.#members.length === 0) return undefined;
    const slot = ringIndex(this.ring, ctx?.hash ?? randomHash(this.#random));
    const exclude = ctx?.exclude;
    if (this.#factor === undefined && !hasExclusions(exclude)) return this.#members[this.ring.owners[slot] as number];
    const i = walkToCandidate(this.ring.owners, slot, this.#members, this.#stats, exclude, this.#factor);
    return i < 0 ? undefined : this.#members[i];
  }
}
