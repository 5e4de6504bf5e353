import type { Endpoint } from '@meshlet/shared';
import { hasExclusions } from './candidates.js';
import type { EndpointStats } from './endpoint-stats.js';

/**
 * The walk of the hash balancers when the key's own member cannot take the
 * request: from slot `start` of `owners` (ring points clockwise, or Maglev
 * entries in order), the first member that is not excluded and, when
 * `boundedLoadFactor` is set, has fewer than
 * `ceil(factor * (active requests of all candidates + 1) / candidates)`
 * requests in flight: Mirrokni, Thorup and Zadimoghaddam's "consistent
 * hashing with bounded loads" (Google, 2016). A key thus keeps its member
 * until that member is overloaded, and the overflow goes to the same next
 * member on every agent.
 *
 * Returns the member's index, or -1 when every member is excluded. Only
 * excluded members and the cap are skipped, so the walk ends at the latest
 * after a full turn; with the cap at least one candidate is under it (they
 * cannot all be at the cap or above, since the cap is above their mean).
 * Should a candidate hold no slot at all (a very light member of a Maglev
 * table), the least loaded candidate is taken instead. O(n) to total the
 * load, then usually a few steps; no allocation.
 */
export function walkToCandidate(
  owners: Uint32Array | Int32Array,
  start: number,
  members: readonly Endpoint[],
  stats: readonly EndpointStats[],
  exclude: ReadonlySet<string> | undefined,
  boundedLoadFactor: number | undefined,
): number {
  const excluding = hasExclusions(exclude);
  const n = members.length;
  let candidates = n;
  let total = 0;
  if (excluding || boundedLoadFactor !== undefined) {
    candidates = 0;
    for (let i = 0; i < n; i++) {
      if (excluding && exclude.has((members[i] as Endpoint).id)) continue;
      candidates++;
      total += (stats[i] as EndpointStats).active;
    }
  }
  if (candidates === 0) return -1;
  const cap = boundedLoadFactor === undefined ? Infinity : Math.ceil((boundedLoadFactor * (total + 1)) / candidates);
  const len = owners.length;
  let slot = start;
  for (let step = 0; step < len; step++) {
    const o = owners[slot] as number;
    if (++slot === len) slot = 0;
    if (o < 0) continue;
    if (excluding && exclude.has((members[o] as Endpoint).id)) continue;
    if ((stats[o] as EndpointStats).active >= cap) continue;
    return o;
  }
  let best = -1;
  for (let i = 0; i < n; i++) {
    if (excluding && exclude.has((members[i] as Endpoint).id)) continue;
    if (best < 0 || (stats[i] as EndpointStats).active < (stats[best] as EndpointStats).active) best = i;
  }
  return best;
}

/** A uniform 32-bit hash for a request without a key, so that it lands at a random place in the table. */
export function randomHash(random: () => number): number {
  return Math.floor(random() * 4294967296) >>> 0;
}

/** The endpoints in the order of a table's `ids` (the hash tables sort their members by id). */
export function membersInTableOrder(endpoints: readonly Endpoint[], ids: readonly string[]): Endpoint[] {
  const byId = new Map<string, Endpoint>();
  for (const e of endpoints) byId.set(e.id, e);
  return ids.map((id) => byId.get(id) as Endpoint);
}
