import { setImmediate as turn } from 'node:timers/promises';
import {
  type Ack,
  type BalancerPolicy,
  membershipChecksum,
  type RingMembership,
  type Routes,
  type ServicePolicy,
  tableChecksumSteps,
} from '@meshlet/shared';
import { hashTableSteps, rebuildsInSlices } from '../balancer/hash-table-steps.js';
import type { RouteTable } from '../route/route-table.js';
import { serviceOf } from '../route/service-of.js';
import { deltaOrigin } from './routes-delta.js';

/** The ACK's `ringChecksums`: per hash-balanced service, the ring version applied and its table's checksum. */
export type RingChecksumMap = NonNullable<Ack['ringChecksums']>;

interface Cached {
  /** Ring version and the policy settings the table was built with. */
  readonly key: string;
  readonly version: number;
  readonly checksum: string;
}

/**
 * The checksums of the hash tables built from the ring memberships the
 * control plane publishes (`ServiceRoutes.ring`), for the ACK: agents that
 * report the same checksum send every key to the same member, so the control
 * plane sees an agent that disagrees.
 *
 * A table costs milliseconds to build (a Maglev table of 65537 entries, a
 * ring of thousands of points), so each service's checksum is kept and
 * computed again only when its ring version, balancer kind or table size
 * changes. The table is built here from `ring.members` rather than taken
 * from the balancers: those are built over the endpoints of a tier's
 * candidate set, which differs from the published membership whenever
 * health, zones or ejections narrow it.
 */
export class RingChecksums {
  #cache = new Map<string, Cached>();
  #current: RingChecksumMap | undefined;
  /** The table of the last {@link update}: a table made by a delta over it updates only what the delta changed. */
  #last: Routes | undefined;
  /** Checksums of large tables computed ahead by {@link prepare}, by cache key, for the next {@link update}. */
  #ahead = new Map<string, string>();

  /** Checksums computed ahead by {@link prepare}, waiting for the next {@link update}. */
  get computedAhead(): number {
    return this.#ahead.size;
  }

  /**
   * Computes ahead, in the slices of each table's build with a turn of the
   * event loop between them, the checksums of the large tables (see
   * `rebuildsInSlices`) of `routes`' rings that {@link update} will need, so
   * that the install that follows does not build them at once. Stops at the
   * first slice after `abandoned()` answers true.
   */
  async prepare(
    routes: Routes,
    policies: ReadonlyMap<string, ServicePolicy>,
    names: readonly string[] = Object.keys(routes.services),
    abandoned: () => boolean = () => false,
  ): Promise<void> {
    for (const name of names) {
      if (abandoned()) return;
      const s = serviceOf(routes, name);
      const policy = policies.get(name)?.balancer;
      if (s?.ring === undefined || policy === undefined || !rebuildsInSlices(policy, s.ring.members)) continue;
      const key = cacheKey(s.ring, policy);
      if (key === undefined || this.#ahead.has(key) || this.#cache.get(name)?.key === key) continue;
      const steps = checksumSteps(policy, s.ring.members);
      for (let r = steps.next(); ; r = steps.next()) {
        if (r.done === true) {
          this.#ahead.set(key, r.value);
          break;
        }
        await turn();
        if (abandoned()) return;
      }
    }
  }

  /** The checksums of the table last passed to {@link update}; `undefined` when it has no hash-balanced ring. */
  get current(): RingChecksumMap | undefined {
    return this.#current;
  }

  /**
   * Computes (or takes from the cache) the checksum of every service of
   * `table` that has a ring and a `ring_hash` or `maglev` balancer, and
   * forgets the others. Returns the new {@link current}.
   */
  update(table: RouteTable): RingChecksumMap | undefined {
    const origin = deltaOrigin(table.routes);
    const incremental = origin !== undefined && this.#last !== undefined && origin.base === this.#last;
    const names = incremental ? [...origin.removed, ...origin.changed] : table.serviceNames();
    const next = incremental ? new Map(this.#cache) : new Map<string, Cached>();
    let changed = !incremental;
    for (const name of names) {
      const had = next.delete(name);
      const entry = this.#entry(table, name);
      if (entry !== undefined) next.set(name, entry);
      changed ||= had || entry !== undefined;
    }
    this.#cache = next;
    this.#ahead.clear();
    this.#last = table.routes;
    if (!changed) return this.#current;
    const out: RingChecksumMap = {};
    for (const name of [...next.keys()].sort()) {
      const entry = next.get(name) as Cached;
      out[name] = { version: entry.version, checksum: entry.checksum };
    }
    this.#current = next.size > 0 ? out : undefined;
    return this.#current;
  }

  /** The checksum entry of service `name` of `table` (the cached one when its key is unchanged); none without a ring. */
  #entry(table: RouteTable, name: string): Cached | undefined {
    const ring = serviceOf(table.routes, name)?.ring;
    const policy = table.service(name)?.policy.balancer;
    if (ring === undefined || policy === undefined) return undefined;
    const key = cacheKey(ring, policy);
    if (key === undefined) return undefined;
    const old = this.#cache.get(name);
    if (old?.key === key) return old;
    return { key, version: ring.version, checksum: this.#ahead.get(key) ?? ringChecksum(ring, policy) };
  }
}

/** `membershipChecksumSteps` (`@meshlet/shared`) over the agent's slices of about a millisecond (see `hashTableSteps`). */
function* checksumSteps(policy: BalancerPolicy, members: RingMembership['members']): Generator<void, string, void> {
  return yield* tableChecksumSteps(yield* hashTableSteps(policy, members));
}

function cacheKey(ring: RingMembership, policy: BalancerPolicy): string | undefined {
  // The members are in the key too: a control plane whose store was wiped may reuse a ring version.
  const members = ring.members.map((m) => `${m.id}*${m.weight}`).join(',');
  if (policy.kind === 'ring_hash') return `${ring.version}/ring/${policy.ringMinSize}/${members}`;
  if (policy.kind === 'maglev') return `${ring.version}/maglev/${policy.maglevTableSize}/${members}`;
  return undefined;
}

/** Checksum of the table the policy's hash balancer builds over the ring's members (a `ring_hash` or `maglev` policy). */
export function ringChecksum(ring: RingMembership, policy: BalancerPolicy): string {
  return membershipChecksum(policy, ring.members);
}
