import { digestWords, type HashMember, type HashRing, ringPointCounts, sortMembers } from '@meshlet/shared';

/** Owners per point are packed below this factor, as `ringSteps` in `@meshlet/shared` packs them. */
const MAX_MEMBERS = 1 << 20;

/**
 * The ring `buildRing` (`@meshlet/shared`) makes over `members` with at
 * least `minSize` points, point for point, in steps of at most `slice`
 * elements of work each, to yield to the event loop between: the points are
 * made in slices as `ringSteps` makes them, then sorted as runs of `slice`
 * points merged pairwise, a slice of output at a time. `ringSteps` sorts
 * the whole ring in one step, which over 131072 points (the largest
 * `ringMinSize`) blocked the agent's event loop for 10-13 ms of CPU
 * (bench/growth.mjs); here no step exceeds about a millisecond.
 *
 * The order is the same total order (point, then owner), so the ring is
 * identical (a test compares them): agents that build it either way agree,
 * and so do the checksums the control plane compares.
 */
export function* ringSlices(
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
  let other = new Float64Array(total);
  let budget = slice;
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
