import { type BalancerPolicy, buildMaglevTable, type Endpoint, type MaglevTable } from '@meshlet/shared';
import type { Balancer, BalancerDeps, PickContext } from './balancer.js';
import { hasExclusions } from './candidates.js';
import type { EndpointStats } from './endpoint-stats.js';
import { membersInTableOrder, randomHash, walkToCandidate } from './hash-walk.js';

/**
 * Maglev consistent hashing: a lookup table of `policy.maglevTableSize`
 * entries (a prime) is built once from the endpoints' ids and declared
 * weights (see `buildMaglevTable` in `@meshlet/shared`), and a request goes
 * to `entries[hash % size]`: O(1), with a more even spread than a ring and
 * little more than 1/N of the keys moved when one of N endpoints leaves.
 *
 * Excluded endpoints, and with `policy.boundedLoadFactor` overloaded ones,
 * are passed over by walking on to the next entries (see
 * {@link walkToCandidate}), so the fallback is the same on every agent. A
 * request without a hash takes a random entry, which picks an endpoint in
 * proportion to its weight.
 */
export class MaglevBalancer implements Balancer {
  /** The lookup table; exposed for its checksum in the ACK. */
  readonly table: MaglevTable;
  readonly #members: readonly Endpoint[];
  readonly #stats: readonly EndpointStats[];
  readonly #random: () => number;
  readonly #factor: number | undefined;

  constructor(endpoints: readonly Endpoint[], policy: BalancerPolicy, deps: BalancerDeps) {
    this.table = deps.tables?.takeMaglev(policy, endpoints) ?? buildMaglevTable(endpoints, policy.maglevTableSize);
    this.#members = membersInTableOrder(endpoints, this.table.ids);
    this.#stats = this.#members.map((e) => deps.stats.get(e.id));
    this.#random = deps.random;
    this.#factor = policy.boundedLoadFactor;
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    if (this.#members.length === 0) return undefined;
    const entries = this.table.entries;
    const slot = ((ctx?.hash ?? randomHash(this.#random)) >>> 0) % entries.length;
    const exclude = ctx?.exclude;
    if (this.#factor === undefined && !hasExclusions(exclude)) return this.#members[entries[slot] as number];
    const i = walkToCandidate(entries, slot, this.#members, this.#stats, exclude, this.#factor);
    return i < 0 ? undefined : this.#members[i];
  }
}
