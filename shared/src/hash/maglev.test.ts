import { describe, expect, it } from 'vitest';
import { buildMaglevTable, nextPrime } from './maglev.js';
import { tableChecksum } from './table-checksum.js';

const members = (...weights: number[]) => weights.map((weight, i) => ({ id: `m${i}`, weight }));
const countsOf = (entries: Int32Array, n: number) => {
  const c = new Array<number>(n).fill(0);
  for (const e of entries) c[e]!++;
  return c;
};

describe('buildMaglevTable', () => {
  it('fills every entry, equal members within one entry of each other', () => {
    const t = buildMaglevTable(members(1, 1, 1, 1, 1, 1, 1), 4099);
    expect(t.entries).toHaveLength(4099);
    const c = countsOf(t.entries, 7);
    expect(c.reduce((a, b) => a + b, 0)).toBe(4099);
    expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(1);
  });

  it('gives members entries in proportion to their weights', () => {
    const t = buildMaglevTable(members(1, 2, 3, 10), 65537);
    const c = countsOf(t.entries, 4);
    const ideal = [1, 2, 3, 10].map((w) => (w / 16) * 65537);
    c.forEach((n, i) => expect(Math.abs(n - ideal[i]!) / ideal[i]!).toBeLessThan(0.01));
  });

  it('is the same table whatever the order of the members', () => {
    const a = buildMaglevTable([{ id: 'y', weight: 2 }, { id: 'x', weight: 1 }, { id: 'z', weight: 1 }], 251);
    const b = buildMaglevTable([{ id: 'z', weight: 1 }, { id: 'x', weight: 1 }, { id: 'y', weight: 2 }], 251);
    expect(a).toEqual(b);
    expect(a.ids).toEqual(['x', 'y', 'z']);
    expect(tableChecksum(a)).toBe(tableChecksum(b));
  });

  it('raises a size that is not a prime to the next prime, so that the permutations cover the table', () => {
    expect(buildMaglevTable(members(1, 1), 100).entries).toHaveLength(101);
    expect(buildMaglevTable(members(1, 1), 65536).entries).toHaveLength(65537);
  });

  it('is all -1 with no members', () => {
    const t = buildMaglevTable([], 7);
    expect(Array.from(t.entries)).toEqual([-1, -1, -1, -1, -1, -1, -1]);
  });

  it('differs in checksum from a ring and from another member set', () => {
    expect(tableChecksum(buildMaglevTable(members(1, 1), 7))).not.toBe(tableChecksum(buildMaglevTable(members(1, 2), 7)));
  });
});

describe('nextPrime', () => {
  it('returns the prime itself or the next one', () => {
    expect([2, 4, 7, 8, 65536, 65537, 5_000_000].map(nextPrime)).toEqual([2, 5, 7, 11, 65537, 65537, 5_000_011]);
  });
});
