import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../random.js';
import type { HashMember } from './hash-member.js';
import { buildMaglevTable, type MaglevTable } from './maglev.js';
import { buildRing, type HashRing, ringIndex } from './ring.js';
import { tableChecksum } from './table-checksum.js';

// Properties every agent relies on when it routes by key: the tables are the
// same in every process, and a change of membership moves few keys.

const DIST = fileURLToPath(new URL('../../dist/hash/', import.meta.url));

const memberList = fc.uniqueArray(
  fc.record({ id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/), weight: fc.integer({ min: 1, max: 100 }) }),
  { minLength: 0, maxLength: 40, selector: (m) => m.id },
);

interface Case {
  members: HashMember[];
  ringMinSize: number;
  maglevSize: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  members: memberList,
  ringMinSize: fc.integer({ min: 1, max: 4096 }),
  maglevSize: fc.constantFrom(7, 251, 4099, 65537),
});

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Checksums of the tables for each case, computed by a separate `node` process from the built `shared/dist`. */
function checksumsInChild(cases: readonly Case[]): Array<{ ring: string; maglev: string }> {
  const url = (f: string) => pathToFileURL(DIST + f).href;
  const script = `
    import { readFileSync } from 'node:fs';
    const { buildRing } = await import(${JSON.stringify(url('ring.js'))});
    const { buildMaglevTable } = await import(${JSON.stringify(url('maglev.js'))});
    const { tableChecksum } = await import(${JSON.stringify(url('table-checksum.js'))});
    const cases = JSON.parse(readFileSync(0, 'utf8'));
    const out = cases.map((c) => ({
      ring: tableChecksum(buildRing(c.members, c.ringMinSize)),
      maglev: tableChecksum(buildMaglevTable(c.members, c.maglevSize)),
    }));
    process.stdout.write(JSON.stringify(out));
  `;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { input: JSON.stringify(cases), encoding: 'utf8' });
  return JSON.parse(stdout) as Array<{ ring: string; maglev: string }>;
}

/** Member id that `hash` maps to. */
const ringOwner = (ring: HashRing, hash: number) => ring.ids[ring.owners[ringIndex(ring, hash)] as number];
const maglevOwner = (t: MaglevTable, slot: number) => t.ids[t.entries[slot] as number];

describe('hash tables across processes', () => {
  it('builds the identical ring and Maglev table in two processes, from members in any order', () => {
    expect(existsSync(DIST + 'ring.js'), 'shared/dist is missing: run `npx tsc -b` first').toBe(true);
    const cases = fc.sample(caseArb, { numRuns: 30, seed: 20240611 });
    const child = checksumsInChild(cases);
    const random = seededRandom(1);
    cases.forEach((c, i) => {
      const members = shuffled(c.members, random);
      expect(tableChecksum(buildRing(members, c.ringMinSize)), `ring of case ${i}`).toBe(child[i]?.ring);
      expect(tableChecksum(buildMaglevTable(members, c.maglevSize)), `maglev of case ${i}`).toBe(child[i]?.maglev);
    });
  });

  it('builds the same tables in one process from any order of the members', () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), (c, seed) => {
        const other = shuffled(c.members, seededRandom(seed));
        expect(tableChecksum(buildRing(other, c.ringMinSize))).toBe(tableChecksum(buildRing(c.members, c.ringMinSize)));
        expect(tableChecksum(buildMaglevTable(other, c.maglevSize))).toBe(tableChecksum(buildMaglevTable(c.members, c.maglevSize)));
      }),
      { numRuns: 25 },
    );
  });
});

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
      console.log(`ring minSize 1024, ${n} -> ${n - 1} members: ${((moved / 20_000) * 100).toFixed(1)}% of keys moved, ${((movedAmongSurvivors / 20_000) * 100).toFixed(1)}% between survivors`);
      expect(moved / 20_000).toBeLessThan(2.5 / n);
    }
  });
});

describe('maglev: removing a member', () => {
  const SIZE = 65537;

  it('moves at most 1/N + 1% of the keys', () => {
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
        expect(moved / SIZE).toBeLessThanOrEqual(1 / n + 0.01);
      }),
      { numRuns: 12 },
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
