import { setImmediate as turn } from 'node:timers/promises';
import { type BalancerPolicy, type HashMember, type HashRing, type MaglevTable, sortMembers } from '@meshlet/shared';
import { hashTableSteps } from './hash-table-steps.js';

/** The table of one hash balancer over one member set, as a key of {@link HashTableCache}. */
export function hashTableKey(policy: BalancerPolicy, members: readonly HashMember[]): string | undefined {
  if (policy.kind !== 'maglev' && policy.kind !== 'ring_hash') return undefined;
  const size = policy.kind === 'maglev' ? policy.maglevTableSize : policy.ringMinSize;
  return `${policy.kind}|${size}|${sortMembers(members)
    .map((m) => `${m.id}:${m.weight}`)
    .join(',')}`;
}

/**
 * Hash tables (Maglev tables, rings) built ahead of a routing table's
 * install, in slices that yield to the event loop, so that a large table
 * does not stall the requests in flight: the balancers then take their
 * table from here instead of building it at once. Each table is taken once;
 * what is left after the install is dropped with {@link clear}.
 */
export class HashTableCache {
  readonly #tables = new Map<string, MaglevTable | HashRing>();

  /**
   * Builds the table `policy` makes over `members`, yielding to the event loop
   * between slices; a no-op when held. Stops, keeping nothing, at the first
   * slice after `abandoned()` answers true (the service or the agent stopped:
   * the slices would otherwise run to the end, 100 ms for a Maglev table of
   * 655373 entries).
   */
  async prebuild(
    policy: BalancerPolicy,
    members: readonly HashMember[],
    abandoned: () => boolean = () => false,
  ): Promise<void> {
    const key = hashTableKey(policy, members);
    if (key === undefined || this.#tables.has(key)) return;
    const steps = hashTableSteps(policy, members);
    for (;;) {
      const r = steps.next();
      if (r.done === true) {
        this.#tables.set(key, r.value);
        return;
      }
      await turn();
      if (abandoned()) return;
    }
  }

  /** The Maglev table prebuilt for `members`, taken out of the cache; `undefined` when none was. */
  takeMaglev(policy: BalancerPolicy, members: readonly HashMember[]): MaglevTable | undefined {
    const t = this.#take(policy, members);
    return t !== undefined && 'entries' in t ? t : undefined;
  }

  /** The ring prebuilt for `members`, taken out of the cache; `undefined` when none was. */
  takeRing(policy: BalancerPolicy, members: readonly HashMember[]): HashRing | undefined {
    const t = this.#take(policy, members);
    return t !== undefined && 'points' in t ? t : undefined;
  }

  /** How many tables are held. */
  get size(): number {
    return this.#tables.size;
  }

  /** Drops every table held. */
  clear(): void {
    this.#tables.clear();
  }

  #take(policy: BalancerPolicy, members: readonly HashMember[]): MaglevTable | HashRing | undefined {
    if (this.#tables.size === 0) return undefined;
    const key = hashTableKey(policy, members);
    if (key === undefined) return undefined;
    const t = this.#tables.get(key);
    this.#tables.delete(key);
    return t;
  }
}

/**
 * A cache holding the tables `policy` makes over each of `sets`, built in
 * slices (see {@link HashTableCache.prebuild}); once `abandoned()` answers
 * true it stops building, and what it returns is incomplete.
 */
export async function prebuildTables(
  policy: BalancerPolicy,
  sets: readonly (readonly HashMember[])[],
  abandoned: () => boolean = () => false,
): Promise<HashTableCache> {
  const tables = new HashTableCache();
  for (const members of sets) {
    if (abandoned()) break;
    await tables.prebuild(policy, members, abandoned);
  }
  return tables;
}
