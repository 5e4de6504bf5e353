import { describe, expect, it } from 'vitest';
import { buildRing, MAX_RING_SIZE, ringIndex, ringPointCounts } from './ring.js';
import { tableChecksum } from './table-checksum.js';

const members = (...weights: number[]) => weights.map((weight, i) => ({ id: `m${i}`, weight }));

describe('ringPointCounts', () => {
  it('gives each member points in proportion to its weight, at least minSize in all', () => {
    expect(ringPointCounts(members(1, 2, 3), 600)).toEqual([100, 200, 300]);
    expect(ringPointCounts(members(1, 1, 1), 1024)).toEqual([342, 342, 342]);
  });

  it('gives each member exactly its weight once the weights reach minSize, whatever the others', () => {
    expect(ringPointCounts(members(500, 700), 1024)).toEqual([500, 700]);
    expect(ringPointCounts(members(500, 700, 300), 1024)).toEqual([500, 700, 300]);
  });

  it('caps the ring at MAX_RING_SIZE and keeps a point for the lightest member', () => {
    const counts = ringPointCounts([...members(10_000, 10_000), { id: 'light', weight: 0.001 }], MAX_RING_SIZE * 4);
    expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(MAX_RING_SIZE + 1);
    expect(counts[2]).toBe(1);
  });
});

describe('buildRing', () => {
  it('sorts points ascending, owners matching the counts', () => {
    const ring = buildRing(members(1, 2, 3), 60);
    expect(ring.points).toHaveLength(60);
    for (let i = 1; i < ring.points.length; i++) expect(ring.points[i]! >= ring.points[i - 1]!).toBe(true);
    const perOwner = [0, 0, 0];
    for (const o of ring.owners) perOwner[o]!++;
    expect(perOwner).toEqual([10, 20, 30]);
    expect(ring.ids).toEqual(['m0', 'm1', 'm2']);
  });

  it('is the same ring whatever the order of the members', () => {
    const a = buildRing([{ id: 'b', weight: 2 }, { id: 'a', weight: 1 }, { id: 'c', weight: 3 }], 300);
    const b = buildRing([{ id: 'c', weight: 3 }, { id: 'b', weight: 2 }, { id: 'a', weight: 1 }], 300);
    expect(a).toEqual(b);
    expect(tableChecksum(a)).toBe(tableChecksum(b));
  });

  it('changes its checksum when a member, a weight or the size changes', () => {
    const base = tableChecksum(buildRing(members(1, 1, 1), 300));
    expect(tableChecksum(buildRing(members(1, 1), 300))).not.toBe(base);
    expect(tableChecksum(buildRing(members(1, 1, 2), 300))).not.toBe(base);
    expect(tableChecksum(buildRing(members(1, 1, 1), 303))).not.toBe(base);
  });

  it('keeps a member\'s points when another member is added', () => {
    const small = buildRing(members(100, 100), 1);
    const large = buildRing(members(100, 100, 100), 1);
    const pointsOf = (r: typeof small, owner: number) => Array.from(r.points).filter((_, i) => r.owners[i] === owner);
    expect(pointsOf(large, 0)).toEqual(pointsOf(small, 0));
    expect(pointsOf(large, 1)).toEqual(pointsOf(small, 1));
  });

  it('refuses a weight that is not positive', () => {
    expect(() => buildRing([{ id: 'a', weight: 0 }], 10)).toThrow(RangeError);
    expect(() => buildRing([{ id: 'a', weight: Number.NaN }], 10)).toThrow(RangeError);
  });
});

describe('ringIndex', () => {
  const ring = { ids: ['a'], points: Uint32Array.from([10, 20, 4_000_000_000]), owners: Uint32Array.from([0, 0, 0]) };

  it('finds the first point at or after the hash', () => {
    expect(ringIndex(ring, 0)).toBe(0);
    expect(ringIndex(ring, 10)).toBe(0);
    expect(ringIndex(ring, 11)).toBe(1);
    expect(ringIndex(ring, 3_999_999_999)).toBe(2);
  });

  it('goes round past the top of the circle', () => {
    expect(ringIndex(ring, 4_000_000_001)).toBe(0);
    expect(ringIndex(ring, 0xffffffff)).toBe(0);
  });

  it('reads a signed 32-bit hash as unsigned', () => {
    expect(ringIndex(ring, -1)).toBe(0);
    expect(ringIndex(ring, 4_000_000_000 | 0)).toBe(2);
  });

  it('returns -1 for an empty ring', () => {
    expect(ringIndex(buildRing([], 1024), 5)).toBe(-1);
  });
});
