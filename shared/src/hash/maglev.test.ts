import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HashMember } from './hash-member.js';
import { buildMaglevTable, type MaglevTable, nextPrime } from './maglev.js';
import { tableChecksum } from './table-checksum.js';

const members = (...weights: number[]) => weights.map((weight, i) => ({ id: `m${i}`, weight }));
const maglevOwner = (t: MaglevTable, slot: number) => t.ids[t.entries[slot] as number];
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
    const a = buildMaglevTable(
      [
        { id: 'y', weight: 2 },
        { id: 'x', weight: 1 },
        { id: 'z', weight: 1 },
      ],
      251,
    );
    const b = buildMaglevTable(
      [
        { id: 'z', weight: 1 },
        { id: 'x', weight: 1 },
        { id: 'y', weight: 2 },
      ],
      251,
    );
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
    expect(tableChecksum(buildMaglevTable(members(1, 1), 7))).not.toBe(
      tableChecksum(buildMaglevTable(members(1, 2), 7)),
    );
  });
});

describe('nextPrime', () => {
  it('returns the prime itself or the next one', () => {
    expect([2, 4, 7, 8, 65536, 65537, 5_000_000].map(nextPrime)).toEqual([2, 5, 7, 11, 65537, 65537, 5_000_011]);
  });
});

// Properties every agent relies on when it routes by key: a change of
// membership moves few keys, and entries spread evenly.

describe('maglev: removing a member', () => {
  const SIZE = 65537;

  // Maglev keeps disruption small, not minimal: beyond the removed member's
  // 1/N, a few other slots change owner. Up to about 1.2% was found (n=5,
  // prefix 36, first member: 21.03%; n=6, prefix 23, fifth member: 17.83%),
  // so the bound is 1/N + 2%, and those two cases are always checked; the
  // 1% bound failed about one run in forty.
  it('moves at most 1/N + 2% of the keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 100 }), fc.nat(), fc.integer({ min: 0, max: 1000 }), (n, which, prefix) => {
        const members = Array.from({ length: n }, (_, i) => ({ id: `svc-${prefix}-${i}`, weight: 1 }));
        const removed = members[which % n] as HashMember;
        const before = buildMaglevTable(members, SIZE);
        const after = buildMaglevTable(
          members.filter((m) => m !== removed),
          SIZE,
        );
        let moved = 0;
        for (let s = 0; s < SIZE; s++) if (maglevOwner(before, s) !== maglevOwner(after, s)) moved++;
        expect(moved / SIZE).toBeLessThanOrEqual(1 / n + 0.02);
      }),
      {
        numRuns: 12,
        examples: [
          [5, 0, 36],
          [6, 4, 23],
        ],
      },
    );
  });
});

describe('balance', () => {
  it('maglev: max/mean entries per member is at most 1.01 with 100 members and 65537 entries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), (prefix) => {
        const members = Array.from({ length: 100 }, (_, i) => ({ id: `m-${prefix}-${i}`, weight: 1 }));
        const t = buildMaglevTable(members, 65537);
        const counts = new Array<number>(100).fill(0);
        for (const e of t.entries) counts[e]!++;
        expect(Math.max(...counts) / (65537 / 100)).toBeLessThanOrEqual(1.01);
      }),
      { numRuns: 5 },
    );
  });
});
