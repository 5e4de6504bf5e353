import { digestWords } from './hash-key.js';
import { type HashMember, sortMembers } from './hash-member.js';
import { runSteps } from './run-steps.js';

/** Most points a ring gets, whatever its minimum and weights ask for: Envoy's default `maximum_ring_size`. */
export const MAX_RING_SIZE = 8_388_608;

/** Most members a ring can hold (owner indices are packed beside the point in one double while sorting). */
const MAX_MEMBERS = 1 << 20;

/** A consistent-hash ring, built by {@link buildRing}. */
export interface HashRing {
  /** Member ids in id order; `owners` index into it. */
  readonly ids: readonly string[];
  /** The points (virtual nodes) on the 32-bit circle, ascending. */
  readonly points: Uint32Array;
  /** `owners[i]` is the index in `ids` of the member that owns `points[i]`. */
  readonly owners: Uint32Array;
}

/**
 * Builds a Ketama-style consistent-hash ring. Each member gets a number of
 * points proportional to its weight: `weight` points when the weights add up
 * to at least `minSize`, else `ceil(weight * minSize / totalWeight)` (at
 * least one each; at most {@link MAX_RING_SIZE} in all). Point `j` of a member
 * depends only on its id and `j` (word `j % 8` of SHA-256 of `id#floor(j/8)`),
 * so a member keeps its points whatever the others do: removing a member
 * moves only the keys it owned, as long as the others' point counts stay the
 * same. They do not when the ring drops below `minSize`: then every survivor
 * gains points, and a further ~1/N of the keys move between survivors (as in
 * Envoy, whose ring is sized the same way). Weights that add up to at least
 * `minSize` avoid that.
 *
 * The ring is a pure function of the set of members: they are sorted by id
 * first, and points that collide are ordered by owner, so every agent builds
 * the identical ring (see {@link tableChecksum}).
 */
export function buildRing(members: readonly HashMember[], minSize: number): HashRing {
  return runSteps(ringSteps(members, minSize));
}

/**
 * {@link buildRing} in steps: the generator yields after every `slice`
 * points hashed, then sorts them as runs of `slice` points merged pairwise,
 * yielding after every `slice` elements sorted, merged or unpacked, and
 * returns the same ring (the order is the same total order, point then
 * owner, whatever the slice), for an agent or the control plane to build a
 * large ring without blocking its event loop: sorting 131072 points in one
 * step took 10-13 ms of CPU on a 2-core machine (bench/growth.mjs), a slice
 * about a millisecond.
 */
export function* ringSteps(
  members: readonly HashMember[],
  minSize: number,
  slice = 16_384,
): Generator<void, HashRing, void> {
  const sorted = sortMembers(members);
  const n = sorted.length;
  if (n > MAX_MEMBERS) throw new RangeError(`a hash ring holds at most ${MAX_MEMBERS} members, not ${n}`);
  const counts = ringPointCounts(sorted, minSize);
  let total = 0;
  for (const c of counts) total += c;

  // Point and owner packed in one double (point * 2^20 + owner, exact below 2^53), so that a plain
  // numeric sort orders by point and then by owner, deterministically and without a comparator.
  let packed = new Float64Array(total);
  let at = 0;
  for (let owner = 0; owner < n; owner++) {
    const id = (sorted[owner] as HashMember).id;
    const count = counts[owner] as number;
    let words: Uint32Array | undefined;
    for (let j = 0; j < count; j++) {
      if (j % 8 === 0) words = digestWords(`${id}#${j / 8}`);
      packed[at++] = ((words as Uint32Array)[j % 8] as number) * MAX_MEMBERS + owner;
      if (at % slice === 0) yield;
    }
  }
  yield;
  for (let start = 0; start < total; start += slice) {
    packed.subarray(start, Math.min(total, start + slice)).sort();
    yield;
  }
  let budget = slice;
  if (total > slice) {
    let other = new Float64Array(total);
    for (let width = slice; width < total; width *= 2) {
      for (let lo = 0; lo < total; lo += 2 * width) {
        const mid = Math.min(total, lo + width);
        const hi = Math.min(total, lo + 2 * width);
        let i = lo;
        let j = mid;
        for (let k = lo; k < hi; k++) {
          const a = i < mid ? (packed[i] as number) : Infinity;
          const b = j < hi ? (packed[j] as number) : Infinity;
          if (a <= b) {
            other[k] = a;
            i++;
          } else {
            other[k] = b;
            j++;
          }
          if (--budget === 0) {
            budget = slice;
            yield;
          }
        }
      }
      [packed, other] = [other, packed];
    }
  }
  const points = new Uint32Array(total);
  const owners = new Uint32Array(total);
  for (let i = 0; i < total; i++) {
    const v = packed[i] as number;
    const point = Math.floor(v / MAX_MEMBERS);
    points[i] = point;
    owners[i] = v - point * MAX_MEMBERS;
    if (--budget === 0) {
      budget = slice;
      yield;
    }
  }
  return { ids: sorted.map((m) => m.id), points, owners };
}

/** Points per member of a ring, members in id order (see {@link buildRing}). */
export function ringPointCounts(sorted: readonly HashMember[], minSize: number): number[] {
  let weight = 0;
  for (const m of sorted) weight += m.weight;
  const target = Math.max(1, Math.floor(minSize));
  let counts = sorted.map((m) =>
    weight >= target ? Math.ceil(m.weight) : Math.max(1, Math.ceil((m.weight * target) / weight)),
  );
  let total = 0;
  for (const c of counts) total += c;
  if (total > MAX_RING_SIZE) {
    counts = sorted.map((m) => Math.max(1, Math.floor((m.weight * MAX_RING_SIZE) / weight)));
  }
  return counts;
}

/**
 * The index in `ring.points` of the first point at or after `hash`, going
 * round past the top of the circle to the first point; -1 for an empty ring.
 * A binary search: O(log points), no allocation.
 */
export function ringIndex(ring: HashRing, hash: number): number {
  const points = ring.points;
  const n = points.length;
  if (n === 0) return -1;
  const h = hash >>> 0;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === n ? 0 : lo;
}
