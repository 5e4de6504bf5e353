import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../random.js';
import { digestWords } from './hash-key.js';
import { type HashMember, sortMembers } from './hash-member.js';
import { buildRing, type HashRing, MAX_RING_SIZE, ringIndex, ringPointCounts, ringSteps } from './ring.js';
import { runSteps } from './run-steps.js';
import { tableChecksum } from './table-checksum.js';

const members = (...weights: number[]) => weights.map((weight, i) => ({ id: `m${i}`, weight }));
/** Member id that `hash` maps to. */
const ringOwner = (ring: HashRing, hash: number) => ring.ids[ring.owners[ringIndex(ring, hash)] as number];

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
    const a = buildRing(
      [
        { id: 'b', weight: 2 },
        { id: 'a', weight: 1 },
        { id: 'c', weight: 3 },
      ],
      300,
    );
    const b = buildRing(
      [
        { id: 'c', weight: 3 },
        { id: 'b', weight: 2 },
        { id: 'a', weight: 1 },
      ],
      300,
    );
    expect(a).toEqual(b);
    expect(tableChecksum(a)).toBe(tableChecksum(b));
  });

  it('changes its checksum when a member, a weight or the size changes', () => {
    const base = tableChecksum(buildRing(members(1, 1, 1), 300));
    expect(tableChecksum(buildRing(members(1, 1), 300))).not.toBe(base);
    expect(tableChecksum(buildRing(members(1, 1, 2), 300))).not.toBe(base);
    expect(tableChecksum(buildRing(members(1, 1, 1), 303))).not.toBe(base);
  });

  it("keeps a member's points when another member is added", () => {
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

// Properties every agent relies on when it routes by key: a change of
// membership moves few keys, and the points spread evenly.

describe('ring: removing a member', () => {
  const KEYS = 5000;

  it('moves only the keys that belonged to the removed member, while the ring stays at or above its minimum size', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 9999 }), { minLength: 2, maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 20, max: 200 }),
        fc.integer(),
        (idNumbers, which, weight, seed) => {
          const members = idNumbers.map((n) => ({ id: `ep-${n}`, weight }));
          const removed = members[which % members.length] as HashMember;
          const rest = members.filter((m) => m !== removed);
          // The survivors' weights alone reach the minimum size, so their point counts do not change.
          const minSize = rest.length * weight;
          const before = buildRing(members, minSize);
          const after = buildRing(rest, minSize);
          const random = seededRandom(seed);
          for (let k = 0; k < KEYS; k++) {
            const h = Math.floor(random() * 2 ** 32);
            const was = ringOwner(before, h);
            if (was !== removed.id) expect(ringOwner(after, h)).toBe(was);
            else expect(ringOwner(after, h)).not.toBe(removed.id);
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('moves about 2/N of the keys when the survivors gain points to keep the minimum size (as Envoy does)', () => {
    const random = seededRandom(3);
    for (const n of [5, 10, 20]) {
      const members = Array.from({ length: n }, (_, i) => ({ id: `ep-${i}`, weight: 1 }));
      const before = buildRing(members, 1024);
      const after = buildRing(members.slice(1), 1024);
      let moved = 0;
      let movedAmongSurvivors = 0;
      for (let k = 0; k < 20_000; k++) {
        const h = Math.floor(random() * 2 ** 32);
        const was = ringOwner(before, h);
        if (ringOwner(after, h) === was) continue;
        moved++;
        if (was !== 'ep-0') movedAmongSurvivors++;
      }
      console.log(
        `ring minSize 1024, ${n} -> ${n - 1} members: ${((moved / 20_000) * 100).toFixed(1)}% of keys moved, ${((movedAmongSurvivors / 20_000) * 100).toFixed(1)}% between survivors`,
      );
      expect(moved / 20_000).toBeLessThan(2.5 / n);
    }
  });
});

describe('balance', () => {
  it('ring: spread (max/mean share of the circle) with 160 virtual nodes per member', () => {
    const spreads: string[] = [];
    for (const n of [10, 100]) {
      const members = Array.from({ length: n }, (_, i) => ({ id: `10.0.${i >> 8}.${i & 255}:8080`, weight: 1 }));
      const ring = buildRing(members, 160 * n);
      expect(ring.points).toHaveLength(160 * n);
      // Exact shares: each point owns the arc from the previous point up to itself.
      const share = new Array<number>(n).fill(0);
      const { points, owners } = ring;
      for (let i = 0; i < points.length; i++) {
        const prev = i === 0 ? (points[points.length - 1] as number) - 2 ** 32 : (points[i - 1] as number);
        share[owners[i] as number]! += (points[i] as number) - prev;
      }
      const mean = 2 ** 32 / n;
      const max = Math.max(...share) / mean;
      const min = Math.min(...share) / mean;
      spreads.push(`N=${n}: max/mean ${max.toFixed(3)}, min/mean ${min.toFixed(3)}`);
      // 160 points give a standard deviation of about 1/sqrt(160) = 8% per member.
      expect(max).toBeLessThan(1.4);
      expect(min).toBeGreaterThan(0.6);
    }
    console.log(`ring spread with 160 virtual nodes per member: ${spreads.join('; ')}`);
  });
});

describe('ringSteps', () => {
  const members = (n: number): HashMember[] =>
    Array.from({ length: n }, (_, i) => ({ id: `m-${i}`, weight: 1 + (i % 3) }));
  /** The ring made the plain way (every point packed, one native sort), to compare the sliced merge with. */
  const reference = (m: HashMember[], minSize: number): HashRing => {
    const sorted = sortMembers(m);
    const counts = ringPointCounts(sorted, minSize);
    const packed: number[] = [];
    sorted.forEach((member, owner) => {
      for (let j = 0; j < (counts[owner] as number); j++)
        packed.push((digestWords(`${member.id}#${Math.floor(j / 8)}`)[j % 8] as number) * 2 ** 20 + owner);
    });
    const all = Float64Array.from(packed).sort();
    const points = new Uint32Array(all.length);
    const owners = new Uint32Array(all.length);
    all.forEach((v, i) => {
      points[i] = Math.floor(v / 2 ** 20);
      owners[i] = v - (points[i] as number) * 2 ** 20;
    });
    return { ids: sorted.map((x) => x.id), points, owners };
  };

  it.each([
    [1, 16, 1000],
    [3, 1024, 1000],
    [300, 1024, 1000],
    [300, 40_000, 1000],
    [7, 5000, 4096],
    [300, 40_000, 16_384],
  ])(
    'makes the ring of one plain sort, point for point, whatever the slice (%i members, min %i points, slice %i)',
    (n, minSize, slice) => {
      const m = members(n);
      const sliced = runSteps(ringSteps(m, minSize, slice));
      const plain = reference(m, minSize);
      expect(sliced.ids).toEqual(plain.ids);
      expect(Buffer.from(sliced.points.buffer).equals(Buffer.from(plain.points.buffer))).toBe(true);
      expect(Buffer.from(sliced.owners.buffer).equals(Buffer.from(plain.owners.buffer))).toBe(true);
      expect(tableChecksum(sliced)).toBe(tableChecksum(buildRing(m, minSize)));
    },
  );

  it('yields between slices: no step sorts or merges more than a slice', () => {
    let steps = 0;
    const gen = ringSteps(members(300), 40_000, 4096);
    for (let r = gen.next(); r.done !== true; r = gen.next()) steps++;
    // 40000+ points: about 10 slices to make, 10 runs to sort, 4 merge passes of 10, 10 to unpack.
    expect(steps).toBeGreaterThan(60);
  });

  it('builds an empty ring over no members', () => {
    expect(runSteps(ringSteps([], 1024)).points).toHaveLength(0);
  });
});
