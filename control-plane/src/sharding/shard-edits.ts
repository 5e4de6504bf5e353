import {
  MAX_SHARD_RANGES,
  compareShardValues,
  ownerOf,
  type RangeBound,
  type ShardingPolicy,
  type RangeOwner,
  type KeyRange,
  shardingPolicyIssues,
  shardValue,
} from '@meshlet/shared';
import { canonicalJson } from '../backup/canonical-json.js';

/** The outcome of an edit: the new map (its generation one higher; the policy store sets the one kept), or why not with the status and field to answer. */
export type ShardEdit =
  | { ok: true; sharding: ShardingPolicy; summary: string }
  | { ok: false; status: 400 | 404 | 409; field: string; message: string };

const show = (v: RangeBound | undefined, open: string): string => (v === undefined ? open : JSON.stringify(v));

/** How a range reads in messages and events: `["g", "p") → instance "orders-2"`. */
export function describeRange(r: KeyRange): string {
  const o = ownerOf(r);
  const owner = 'instance' in o ? `instance ${JSON.stringify(o.instance)}` : `subset ${JSON.stringify(o.subset)}`;
  return `[${show(r.from, '-inf')}, ${show(r.to, '+inf')}) → ${owner}`;
}

const withOwner = (r: KeyRange, owner: RangeOwner): KeyRange => {
  const { instance: _i, subset: _s, ...bounds } = r;
  return { ...bounds, ...owner };
};

/** The same owner: the same instance, or the same labels whatever their order (`{a, b}` is `{b, a}`). */
const sameOwner = (a: RangeOwner, b: RangeOwner): boolean => canonicalJson(a) === canonicalJson(b);

/** How many range starts a message lists before "and N more": a full map's would be a megabyte. */
const LISTED_STARTS = 8;

/** The starts of the ranges of `s`, the first few of them. */
function startsOf(s: ShardingPolicy): string {
  const starts = s.ranges.slice(0, LISTED_STARTS).map((r) => show(r.from, 'null'));
  const more = s.ranges.length - starts.length;
  return starts.join(', ') + (more > 0 ? ` and ${more} more (see GET .../shards)` : '');
}

function parse(s: ShardingPolicy, v: RangeBound, field: string): string | bigint | Extract<ShardEdit, { ok: false }> {
  const compare = s.compare ?? 'string';
  const value = compare === 'string' && typeof v === 'number' ? undefined : shardValue(v, compare);
  return value === undefined
    ? {
        ok: false,
        status: 400,
        field,
        message: `${JSON.stringify(v)} is not a ${compare === 'integer' ? 'integer' : 'string'}, and this map compares keys as ${compare}s; send one`,
      }
    : value;
}

const bounds = (s: ShardingPolicy) => {
  const compare = s.compare ?? 'string';
  return s.ranges.map((r) => ({
    from: r.from === undefined ? undefined : shardValue(r.from, compare),
    to: r.to === undefined ? undefined : shardValue(r.to, compare),
  }));
};

function done(s: ShardingPolicy, ranges: KeyRange[], summary: string): ShardEdit {
  if (ranges.length > MAX_SHARD_RANGES)
    return {
      ok: false,
      status: 409,
      field: 'at',
      message: `the map has ${s.ranges.length} ranges, the most a map may have (${MAX_SHARD_RANGES}): merge two adjacent ranges of one owner first (POST .../shards/merge), then split`,
    };
  const sharding: ShardingPolicy = { ...s, ranges, generation: (s.generation ?? 0) + 1 };
  // Edits of a valid map stay valid; checked all the same, so that a bug here never reaches a table.
  const issues = shardingPolicyIssues(sharding);
  if (issues.length > 0)
    return {
      ok: false,
      status: 409,
      field: 'ranges',
      message: `the edit would make an invalid map: ${issues[0]?.problem}`,
    };
  return { ok: true, sharding, summary };
}

/**
 * Splits the range holding `at` into `[from, at)`, which keeps its owner,
 * and `[at, to)`, owned by `owner` when given (else the same owner: a
 * split alone moves no key; a move follows).
 */
export function splitRange(s: ShardingPolicy, at: RangeBound, owner?: RangeOwner): ShardEdit {
  const value = parse(s, at, 'at');
  if (typeof value === 'object') return value;
  const b = bounds(s);
  const i = b.findIndex(
    (r) =>
      (r.from === undefined || compareShardValues(r.from, value) <= 0) &&
      (r.to === undefined || compareShardValues(value, r.to) < 0),
  );
  const range = s.ranges[i];
  if (range === undefined)
    return {
      ok: false,
      status: 409,
      field: 'at',
      message: `${JSON.stringify(at)} falls in no range: nothing to split`,
    };
  const from = b[i]?.from;
  if (from !== undefined && compareShardValues(from, value) === 0)
    return {
      ok: false,
      status: 409,
      field: 'at',
      message: `${JSON.stringify(at)} is already where range ${describeRange(range)} starts: split inside a range`,
    };
  const lower: KeyRange = { ...range, to: at };
  const upper = withOwner({ ...range, from: at }, owner ?? ownerOf(range));
  if (range.to === undefined) delete upper.to;
  const ranges = [...s.ranges.slice(0, i), lower, upper, ...s.ranges.slice(i + 1)];
  return done(
    s,
    ranges,
    `split ${describeRange(range)} at ${JSON.stringify(at)} into ${describeRange(lower)} and ${describeRange(upper)}`,
  );
}

/** Gives the range that starts at `from` (`null`: the one that starts at minus infinity) to `owner`. */
export function moveRange(s: ShardingPolicy, from: RangeBound | null, owner: RangeOwner): ShardEdit {
  let i: number;
  if (from === null) i = s.ranges[0]?.from === undefined ? 0 : -1;
  else {
    const value = parse(s, from, 'from');
    if (typeof value === 'object') return value;
    i = bounds(s).findIndex((r) => r.from !== undefined && compareShardValues(r.from, value) === 0);
  }
  const range = s.ranges[i];
  if (range === undefined)
    return {
      ok: false,
      status: 404,
      field: 'from',
      message: `no range starts at ${from === null ? 'minus infinity (from: null)' : JSON.stringify(from)}; ranges start at ${startsOf(s)}`,
    };
  if (sameOwner(ownerOf(range), owner))
    return { ok: false, status: 409, field: 'to', message: `range ${describeRange(range)} is already owned so` };
  const moved = withOwner(range, owner);
  const ranges = s.ranges.map((r, j) => (j === i ? moved : r));
  return done(s, ranges, `moved ${describeRange(range)} to ${describeRange(moved).split(' → ')[1]}`);
}

/**
 * Merges the two adjacent ranges that meet at `at` (one's `to`, the next
 * one's `from`). Their owners must be the same: a merge that silently gave
 * one owner the other's keys would move data; move one range first.
 */
export function mergeRanges(s: ShardingPolicy, at: RangeBound): ShardEdit {
  const value = parse(s, at, 'at');
  if (typeof value === 'object') return value;
  const b = bounds(s);
  const i = b.findIndex((r, j) => {
    const next = b[j + 1];
    return (
      r.to !== undefined &&
      next?.from !== undefined &&
      compareShardValues(r.to, value) === 0 &&
      compareShardValues(next.from, value) === 0
    );
  });
  const lower = s.ranges[i];
  const upper = s.ranges[i + 1];
  if (lower === undefined || upper === undefined)
    return {
      ok: false,
      status: 404,
      field: 'at',
      message: `no two adjacent ranges meet at ${JSON.stringify(at)} (a range ending there and the next starting there); see GET .../shards`,
    };
  if (!sameOwner(ownerOf(lower), ownerOf(upper)))
    return {
      ok: false,
      status: 409,
      field: 'at',
      message: `${describeRange(lower)} and ${describeRange(upper)} have different owners: move one to the other's owner first (POST .../shards/move), then merge`,
    };
  const merged: KeyRange = { ...lower, to: upper.to as RangeBound };
  if (upper.to === undefined) delete merged.to;
  const ranges = [...s.ranges.slice(0, i), merged, ...s.ranges.slice(i + 2)];
  return done(s, ranges, `merged ${describeRange(lower)} and ${describeRange(upper)} into ${describeRange(merged)}`);
}
