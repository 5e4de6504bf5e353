import type { ShardingPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { RangeMap } from './range-map.js';
import { ownerInstances, rangeOwner } from './range-owner.js';

const strings: ShardingPolicy = {
  kind: 'range',
  key: { header: 'x-tenant' },
  compare: 'string',
  ranges: [
    { to: 'g', instance: 'a' },
    { from: 'g', to: 'p', subset: { shard: 'b' } },
    { from: 'x', instance: 'c' },
  ],
};
const integers: ShardingPolicy = {
  kind: 'range',
  key: { query: 'id' },
  compare: 'integer',
  ranges: [
    { from: -100, to: '10', instance: 'a' },
    { from: '10', to: 1000, instance: 'b' },
    { from: '1000', instance: 'c' },
  ],
};

describe('RangeMap', () => {
  it('finds a key in its half-open range, open ends unbounded, gaps in none', () => {
    const m = new RangeMap(strings);
    expect(m.lookup('')?.index).toBe(0);
    expect(m.lookup('f~')?.index).toBe(0);
    expect(m.lookup('g')?.index).toBe(1);
    expect(m.lookup('o')?.index).toBe(1);
    expect(m.lookup('p')).toBeUndefined();
    expect(m.lookup('w')).toBeUndefined();
    expect(m.lookup('x')?.owner).toEqual({ instance: 'c' });
    expect(m.lookup('\u{10FFFF}zzz')?.index).toBe(2);
  });

  it('compares integers as integers, of any size', () => {
    const m = new RangeMap(integers);
    expect(m.lookup('9')?.index).toBe(0);
    expect(m.lookup('10')?.index).toBe(1);
    expect(m.lookup('999')?.index).toBe(1);
    expect(m.lookup('0010')?.index).toBe(1);
    expect(m.lookup('123456789012345678901234567890')?.index).toBe(2);
    expect(m.lookup('-101')).toBeUndefined();
    expect(m.lookup('1e3')).toBeUndefined();
    expect(m.lookup(' 5')).toBeUndefined();
  });

  it('agrees with a linear scan on many keys over many ranges', () => {
    const ranges = Array.from({ length: 200 }, (_, i) => ({
      from: i * 10,
      to: i * 10 + (i % 3 === 0 ? 5 : 10),
      instance: `i${i}`,
    }));
    const m = new RangeMap({ kind: 'range', key: { query: 'k' }, compare: 'integer', ranges });
    for (let k = -5; k < 2010; k++) {
      const linear = ranges.findIndex((r) => r.from <= k && k < r.to);
      expect(m.lookup(String(k))?.index ?? -1).toBe(linear);
    }
  });
});

describe('rangeOwner', () => {
  it('answers the range and owner, or why there is none', () => {
    expect(rangeOwner(strings, 'h')).toMatchObject({ ok: true, index: 1, owner: { subset: { shard: 'b' } } });
    expect(rangeOwner(strings, 'q')).toMatchObject({ ok: false, reason: 'no-range' });
    expect(rangeOwner(integers, 'abc')).toMatchObject({ ok: false, reason: 'not-an-integer' });
    expect(rangeOwner(strings, 'k'.repeat(5000))).toMatchObject({ ok: false, reason: 'too-long' });
  });
});

describe('ownerInstances', () => {
  it('lists the instances that make up an owner', () => {
    const endpoints: Array<{ id: string; labels: Record<string, string> }> = [
      { id: 'a', labels: {} },
      { id: 'c-1', labels: { shard: 'c' } },
      { id: 'c-2', labels: { shard: 'c', zone: 'z' } },
    ];
    expect(ownerInstances({ instance: 'a' }, endpoints)).toEqual(['a']);
    expect(ownerInstances({ instance: 'gone' }, endpoints)).toEqual([]);
    expect(ownerInstances({ subset: { shard: 'c' } }, endpoints)).toEqual(['c-1', 'c-2']);
  });
});
