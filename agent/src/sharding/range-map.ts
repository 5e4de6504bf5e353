import {
  compareShardValues,
  ownerOf,
  type ShardingPolicy,
  type RangeOwner,
  type KeyRange,
  shardValue,
} from '@meshlet/shared';

/** The range a key falls in: its index in the policy's `ranges`, the range as written, and its owner. */
export interface RangeHit {
  index: number;
  range: KeyRange;
  owner: RangeOwner;
}

interface Entry {
  from: string | bigint | undefined;
  to: string | bigint | undefined;
  hit: RangeHit;
}

/**
 * A service's range map, ready for lookups: the bounds parsed once (as
 * strings or big integers, per `compare`), and a key's range found by binary
 * search over the sorted, non-overlapping ranges (see
 * `shardingPolicyIssues`, which the policy passed before it got here).
 */
export class RangeMap {
  readonly compare: 'string' | 'integer';
  readonly #entries: Entry[];

  constructor(policy: ShardingPolicy) {
    this.compare = policy.compare ?? 'string';
    this.#entries = policy.ranges.map((range, index) => ({
      from: range.from === undefined ? undefined : shardValue(range.from, this.compare),
      to: range.to === undefined ? undefined : shardValue(range.to, this.compare),
      hit: { index, range, owner: ownerOf(range) },
    }));
  }

  /**
   * The range holding `key`: `from <= key < to`, an absent `from` minus
   * infinity and an absent `to` plus infinity. `undefined` when the key falls
   * in a gap, or is not an integer under compare integer (see {@link parse}).
   */
  lookup(key: string): RangeHit | undefined {
    const value = this.parse(key);
    return value === undefined ? undefined : this.lookupValue(value);
  }

  /** The comparable form of a key, `undefined` when it is not an integer under compare integer. */
  parse(key: string): string | bigint | undefined {
    return shardValue(key, this.compare);
  }

  /** {@link lookup} on a parsed key. */
  lookupValue(value: string | bigint): RangeHit | undefined {
    const entries = this.#entries;
    // The last range whose from is at or below the key; then the key must be below its to.
    let lo = 0;
    let hi = entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const from = (entries[mid] as Entry).from;
      if (from === undefined || compareShardValues(from, value) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const e = entries[found];
    if (e === undefined) return undefined;
    return e.to === undefined || compareShardValues(value, e.to) < 0 ? e.hit : undefined;
  }
}
