import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../random.js';
import type { HashMember } from './hash-member.js';
import { buildMaglevTable } from './maglev.js';
import { buildRing } from './ring.js';
import { tableChecksum } from './table-checksum.js';

// The property every agent relies on when it routes by key, and checks with
// the checksums it reports: the tables are the same in every process.

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
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as Array<{ ring: string; maglev: string }>;
}

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
        expect(tableChecksum(buildMaglevTable(other, c.maglevSize))).toBe(
          tableChecksum(buildMaglevTable(c.members, c.maglevSize)),
        );
      }),
      { numRuns: 25 },
    );
  });
});
