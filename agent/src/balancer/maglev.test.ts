import {
  type BalancerPolicy,
  buildMaglevTable,
  type Endpoint,
  hashString,
  seededRandom,
  tableChecksum,
} from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { MaglevBalancer } from './maglev.js';
import { balancerDeps, balancerPolicy, countPicks, endpoint, endpoints } from './test-support/fixtures.js';

const policy = (over?: Partial<BalancerPolicy>) => balancerPolicy('maglev', over);
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(13, over);
const five = endpoints('a', 'b', 'c', 'd', 'e');
const N = 100_000;

describe('MaglevBalancer', () => {
  it('sends the same key to the same endpoint, on every agent whatever the order of its table', () => {
    const one = new MaglevBalancer(five, policy(), deps());
    const other = new MaglevBalancer([...five].reverse(), policy(), deps({ random: seededRandom(99) }));
    for (let i = 0; i < 2000; i++) {
      const hash = hashString(`session-${i}`);
      const first = one.pick({ hash })?.id;
      expect(one.pick({ hash })?.id).toBe(first);
      expect(other.pick({ hash })?.id).toBe(first);
    }
    expect(tableChecksum(one.table)).toBe(tableChecksum(other.table));
  });

  it('spreads keys evenly over 100k picks', () => {
    const b = new MaglevBalancer(five, policy(), deps());
    const c = countPicks((i) => b.pick({ hash: hashString(`user-${i}`) }), N);
    // The table is balanced to one entry; what is left is the binomial noise of 100k keys.
    for (const e of five) expect(Math.abs(c[e.id]! / N - 0.2)).toBeLessThan(0.01);
  });

  it('gives endpoints shares of the keys in proportion to their weights', () => {
    const b = new MaglevBalancer([endpoint('light', 1), endpoint('heavy', 3)], policy(), deps());
    const heavy = countPicks((i) => b.pick({ hash: hashString(`k${i}`) }), N).heavy ?? 0;
    expect(Math.abs(heavy / N - 0.75)).toBeLessThan(0.01);
  });

  it('picks at random when the request has no key', () => {
    const b = new MaglevBalancer(five, policy(), deps());
    const c = countPicks(() => b.pick(), N);
    for (const e of five) expect(Math.abs(c[e.id]! / N - 0.2)).toBeLessThan(0.01);
  });

  it('reads a signed hash as unsigned', () => {
    const b = new MaglevBalancer(five, policy(), deps());
    expect(b.pick({ hash: -5 })?.id).toBe(b.pick({ hash: 2 ** 32 - 5 })?.id);
  });

  it('sends the key of an excluded endpoint to the next entry of another endpoint, and leaves other keys alone', () => {
    const b = new MaglevBalancer(five, policy(), deps());
    const t = buildMaglevTable(five, 65537);
    let moved = 0;
    for (let i = 0; i < 5000; i++) {
      const hash = hashString(`user-${i}`);
      const home = b.pick({ hash })?.id;
      const retry = b.pick({ hash, exclude: new Set(['c']) })?.id;
      if (home !== 'c') {
        expect(retry).toBe(home);
        continue;
      }
      moved++;
      let at = hash % 65537;
      while (t.ids[t.entries[at]!] === 'c') at = (at + 1) % 65537;
      expect(retry).toBe(t.ids[t.entries[at]!]);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('returns undefined when every endpoint is excluded, or there are none', () => {
    expect(
      new MaglevBalancer(five, policy(), deps()).pick({ hash: 1, exclude: new Set(five.map((e) => e.id)) }),
    ).toBeUndefined();
    expect(new MaglevBalancer([], policy(), deps()).pick({ hash: 1 })).toBeUndefined();
  });

  it('with bounded load, caps every endpoint at ceil(factor * (total active + 1) / n)', () => {
    const d = deps();
    const b = new MaglevBalancer(five, policy({ boundedLoadFactor: 1.25 }), d);
    const hash = hashString('one hot key');
    let total = 0;
    for (let i = 0; i < 1000; i++) {
      const e = b.pick({ hash }) as Endpoint;
      const s = d.stats.get(e.id);
      expect(s.active).toBeLessThan(Math.ceil((1.25 * (total + 1)) / 5));
      s.active++;
      total++;
    }
    expect(Math.max(...five.map((e) => d.stats.get(e.id).active))).toBeLessThanOrEqual(250);
  });

  it('with bounded load and exclusions, caps over the endpoints not excluded', () => {
    const d = deps();
    const b = new MaglevBalancer(five, policy({ boundedLoadFactor: 1 }), d);
    const exclude = new Set(['a', 'b']);
    for (let i = 0; i < 300; i++) d.stats.get(b.pick({ hash: 12345, exclude })!.id).active++;
    expect(['c', 'd', 'e'].map((id) => d.stats.get(id).active)).toEqual([100, 100, 100]);
  });

  it('falls back to the least loaded endpoint when the walk finds none with a slot', () => {
    const d = deps();
    // Ten endpoints in a 7-entry table: three of them get no entry.
    const ten = Array.from({ length: 10 }, (_, i) => endpoint(`e${i}`));
    const b = new MaglevBalancer(ten, policy({ maglevTableSize: 7 }), d);
    const inTable = new Set(Array.from(b.table.entries, (e) => b.table.ids[e] as string));
    const outside = ten.filter((e) => !inTable.has(e.id)).map((e) => e.id);
    expect(outside).toHaveLength(3);
    d.stats.get(outside[0]!).active = 2;
    d.stats.get(outside[1]!).active = 1;
    d.stats.get(outside[2]!).active = 3;
    expect(b.pick({ hash: 3, exclude: inTable })?.id).toBe(outside[1]);
  });
});
