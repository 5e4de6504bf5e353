import { MAX_SHARD_RANGES, type ShardingPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { mergeRanges, moveRange, splitRange } from './shard-edits.js';

const map: ShardingPolicy = {
  kind: 'range',
  key: { header: 'x-tenant' },
  compare: 'string',
  ranges: [
    { to: 'm', instance: 'a' },
    { from: 'm', instance: 'b' },
  ],
};

const ok = <T extends { ok: boolean }>(r: T) => {
  if (!r.ok) throw new Error(JSON.stringify(r));
  return r as Extract<T, { ok: true }>;
};

describe('shard edits', () => {
  it('splits a range, the upper half to a new owner, and counts the generation', () => {
    const r = ok(splitRange(map, 't', { instance: 'c' }));
    expect(r.sharding.ranges).toEqual([
      { to: 'm', instance: 'a' },
      { from: 'm', to: 't', instance: 'b' },
      { from: 't', instance: 'c' },
    ]);
    expect(r.sharding.generation).toBe(1);
    expect(r.summary).toContain('split');
    // Without an owner the upper half keeps the range's: a split moves no key.
    expect(ok(splitRange(map, 'c')).sharding.ranges[1]).toEqual({ from: 'c', to: 'm', instance: 'a' });
  });

  it('refuses a split at a boundary or in a gap, and a bound of the wrong kind', () => {
    expect(splitRange(map, 'm')).toMatchObject({ ok: false, status: 409, field: 'at' });
    const gap: ShardingPolicy = { ...map, ranges: [{ from: 'a', to: 'b', instance: 'a' }] };
    expect(splitRange(gap, 'x')).toMatchObject({ ok: false, status: 409 });
    expect(splitRange({ ...map, compare: 'integer', ranges: [{ instance: 'a' }] }, 'x')).toMatchObject({
      ok: false,
      status: 400,
    });
  });

  it('moves a range found by its from, null for the one from minus infinity', () => {
    expect(ok(moveRange(map, 'm', { subset: { shard: 'z' } })).sharding.ranges[1]).toEqual({
      from: 'm',
      subset: { shard: 'z' },
    });
    expect(ok(moveRange(map, null, { instance: 'b' })).sharding.ranges[0]).toEqual({ to: 'm', instance: 'b' });
    expect(moveRange(map, 'q', { instance: 'b' })).toMatchObject({ ok: false, status: 404, field: 'from' });
    expect(moveRange(map, 'm', { instance: 'b' })).toMatchObject({ ok: false, status: 409 });
  });

  it('merges adjacent ranges of one owner only', () => {
    expect(mergeRanges(map, 'm')).toMatchObject({ ok: false, status: 409 });
    const moved = ok(moveRange(map, 'm', { instance: 'a' })).sharding;
    const merged = ok(mergeRanges(moved, 'm')).sharding;
    expect(merged.ranges).toEqual([{ instance: 'a' }]);
    expect(merged.generation).toBe(2);
    expect(mergeRanges(map, 'x')).toMatchObject({ ok: false, status: 404 });
  });

  it('compares integer maps as integers', () => {
    const ints: ShardingPolicy = { ...map, compare: 'integer', ranges: [{ from: 0, to: 100, instance: 'a' }] };
    const r = ok(splitRange(ints, '9', { instance: 'b' })).sharding;
    expect(r.ranges).toEqual([
      { from: 0, to: '9', instance: 'a' },
      { from: '9', to: 100, instance: 'b' },
    ]);
    expect(
      ok(mergeRanges({ ...r, ranges: [r.ranges[0]!, { ...r.ranges[1]!, instance: 'a' }] }, 9)).sharding.ranges,
    ).toEqual([{ from: 0, to: 100, instance: 'a' }]);
  });

  it('refuses to split a full map with 409 naming the limit (not a map the policy schema refuses)', () => {
    const full: ShardingPolicy = {
      ...map,
      ranges: Array.from({ length: MAX_SHARD_RANGES }, (_, i) => ({
        ...(i === 0 ? {} : { from: `k${String(i).padStart(5, '0')}` }),
        ...(i === MAX_SHARD_RANGES - 1 ? {} : { to: `k${String(i + 1).padStart(5, '0')}` }),
        instance: 'a',
      })),
    };
    const r = splitRange(full, 'k00001x');
    expect(r).toMatchObject({ ok: false, status: 409, field: 'at' });
    expect(!r.ok && r.message).toContain(`the most a map may have (${MAX_SHARD_RANGES})`);
    // The 404 of a move names the first few range starts, not all 1024 of them.
    const missing = moveRange(full, 'zzz', { instance: 'b' });
    expect(missing).toMatchObject({ ok: false, status: 404 });
    const message = missing.ok ? '' : missing.message;
    expect(message).toContain(`and ${MAX_SHARD_RANGES - 8} more`);
    expect(message.length).toBeLessThan(300);
  });

  it('compares subset owners whatever the order of their labels', () => {
    const subsets: ShardingPolicy = {
      ...map,
      ranges: [
        { to: 'm', subset: { zone: 'a', shard: '1' } },
        { from: 'm', subset: { shard: '1', zone: 'a' } },
      ],
    };
    expect(ok(mergeRanges(subsets, 'm')).sharding.ranges).toEqual([{ subset: { zone: 'a', shard: '1' } }]);
    expect(moveRange(subsets, 'm', { subset: { zone: 'a', shard: '1' } })).toMatchObject({ ok: false, status: 409 });
  });
});
