import type { HashRing, MaglevTable } from '@meshlet/shared';

/** Size of the 32-bit hash space. */
export const HASH_SPACE = 4_294_967_296;

/**
 * A hash table's key space cut into contiguous parts, each with one owner
 * (an index into the table's `ids`), adjacent parts of the same owner
 * merged. Bounds are inclusive; the parts cover `[0, size - 1]` in order.
 */
export interface HashRanges {
  readonly starts: Float64Array;
  readonly ends: Float64Array;
  readonly owners: Int32Array;
  /** Number of positions: 2^32 hashes for a ring, the slot count for a Maglev table. */
  readonly size: number;
}

/** Collects parts, merging a part into the one before when the owner is the same. */
class RangeBuilder {
  starts: number[] = [];
  ends: number[] = [];
  owners: number[] = [];

  add(start: number, end: number, owner: number): void {
    const last = this.owners.length - 1;
    if (last >= 0 && this.owners[last] === owner && (this.ends[last] as number) + 1 === start) this.ends[last] = end;
    else {
      this.starts.push(start);
      this.ends.push(end);
      this.owners.push(owner);
    }
  }

  done(size: number): HashRanges {
    return {
      starts: Float64Array.from(this.starts),
      ends: Float64Array.from(this.ends),
      owners: Int32Array.from(this.owners),
      size,
    };
  }
}

/**
 * The parts of the hash space a ring gives each member: a hash goes to the
 * first point at or after it (`ringIndex`), so point `i` owns the hashes
 * after point `i - 1` up to itself, and the first point also owns those
 * past the last one (the ring wraps). A point equal to the one before owns
 * nothing: the search stops at the first of equal points.
 */
export function ringRanges(ring: HashRing): HashRanges {
  const b = new RangeBuilder();
  const { points, owners } = ring;
  const n = points.length;
  for (let i = 0; i < n; i++) {
    const lo = i === 0 ? 0 : (points[i - 1] as number) + 1;
    const hi = points[i] as number;
    if (lo <= hi) b.add(lo, hi, owners[i] as number);
  }
  if (n > 0 && (points[n - 1] as number) < HASH_SPACE - 1)
    b.add((points[n - 1] as number) + 1, HASH_SPACE - 1, owners[0] as number);
  return b.done(HASH_SPACE);
}

/** The slots of a Maglev table by owner, consecutive slots of one member merged (a key's slot is `hash % size`). */
export function maglevRanges(table: MaglevTable): HashRanges {
  const b = new RangeBuilder();
  const entries = table.entries;
  for (let s = 0; s < entries.length; s++) b.add(s, s, entries[s] as number);
  return b.done(entries.length);
}

/** Positions each owner holds, by owner index (`owners` has `count` members). */
export function positionsByOwner(r: HashRanges, count: number): number[] {
  const out = new Array<number>(count).fill(0);
  for (let i = 0; i < r.owners.length; i++) {
    const o = r.owners[i] as number;
    if (o >= 0) out[o] = (out[o] as number) + (r.ends[i] as number) - (r.starts[i] as number) + 1;
  }
  return out;
}

/** One part whose owner differs between two range sets, as owner ids. */
export interface RangeChange {
  start: number;
  end: number;
  from: string;
  to: string;
}

/**
 * The parts of the space whose owner changed from `before` to `after` (two
 * cuts of the same space, owners as indices into `beforeIds` and
 * `afterIds`), compacted: a sweep over both lists of parts at once, O(parts).
 */
export function changedRanges(
  before: HashRanges,
  beforeIds: readonly string[],
  after: HashRanges,
  afterIds: readonly string[],
): RangeChange[] {
  const out: RangeChange[] = [];
  let i = 0;
  let j = 0;
  let at = 0;
  while (i < before.owners.length && j < after.owners.length) {
    const end = Math.min(before.ends[i] as number, after.ends[j] as number);
    const from = beforeIds[before.owners[i] as number] ?? '';
    const to = afterIds[after.owners[j] as number] ?? '';
    if (from !== to) {
      const last = out[out.length - 1];
      if (last !== undefined && last.from === from && last.to === to && last.end + 1 === at) last.end = end;
      else out.push({ start: at, end, from, to });
    }
    at = end + 1;
    if ((before.ends[i] as number) === end) i++;
    if ((after.ends[j] as number) === end) j++;
  }
  return out;
}
