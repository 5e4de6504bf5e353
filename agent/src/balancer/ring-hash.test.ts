import {
  type BalancerPolicy,
  buildRing,
  type Endpoint,
  hashString,
  ringIndex,
  seededRandom,
  tableChecksum,
} from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { BalancerDeps } from './balancer.js';
import { RingHashBalancer } from './ring-hash.js';
import { balancerDeps, balancerPolicy, countPicks, endpoint, endpoints } from './test-support/fixtures.js';

const policy = (over?: Partial<BalancerPolicy>) => balancerPolicy('ring_hash', over);
const deps = (over?: Partial<BalancerDeps>) => balancerDeps(11, over);
const five = endpoints('a', 'b', 'c', 'd', 'e');
const N = 100_000;

describe('RingHashBalancer', () => {
  it('sends the same key to the same endpoint, on every agent whatever the order of its table', () => {
    const one = new RingHashBalancer(five, policy(), deps());
    const other = new RingHashBalancer([...five].reverse(), policy(), deps({ random: seededRandom(99) }));
    for (let i = 0; i < 2000; i++) {
      const hash = hashString(`session-${i}`);
      const first = one.pick({ hash })?.id;
      expect(one.pick({ hash })?.id).toBe(first);
      expect(other.pick({ hash })?.id).toBe(first);
    }
    expect(tableChecksum(one.ring)).toBe(tableChecksum(other.ring));
  });

  it('spreads keys evenly over 100k picks', () => {
    const b = new RingHashBalancer(five, policy(), deps());
    const c = countPicks((i) => b.pick({ hash: hashString(`user-${i}`) }), N);
    // 205 points per endpoint: the shares of the circle vary by about 7% (1/sqrt(205)).
    for (const e of five) expect(Math.abs(c[e.id]! / N - 0.2)).toBeLessThan(0.2 * 0.2);
  });

  it('gives a heavier endpoint a larger share of the keys', () => {
    const b = new RingHashBalancer([endpoint('light', 1), endpoint('heavy', 3)], policy(), deps());
    const heavy = countPicks((i) => b.pick({ hash: hashString(`k${i}`) }), N).heavy ?? 0;
    expect(Math.abs(heavy / N - 0.75)).toBeLessThan(0.05);
  });

  it('picks at random (by share of the ring) when the request has no key', () => {
    const b = new RingHashBalancer(five, policy(), deps());
    const c = countPicks(() => b.pick(), N);
    for (const e of five) expect(Math.abs(c[e.id]! / N - 0.2)).toBeLessThan(0.04);
  });

  it('sends the key of an excluded endpoint to the next owner clockwise, and leaves other keys alone', () => {
    const b = new RingHashBalancer(five, policy(), deps());
    const ring = buildRing(five, 1024);
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
      let at = ringIndex(ring, hash);
      while (ring.ids[ring.owners[at]!] === 'c') at = (at + 1) % ring.points.length;
      expect(retry).toBe(ring.ids[ring.owners[at]!]);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('returns undefined when every endpoint is excluded, or there are none', () => {
    expect(
      new RingHashBalancer(five, policy(), deps()).pick({ hash: 1, exclude: new Set(five.map((e) => e.id)) }),
    ).toBeUndefined();
    expect(new RingHashBalancer([], policy(), deps()).pick({ hash: 1 })).toBeUndefined();
    expect(new RingHashBalancer([], policy(), deps()).pick()).toBeUndefined();
  });

  it('with bounded load, caps every endpoint at ceil(factor * (total active + 1) / n)', () => {
    const d = deps();
    const b = new RingHashBalancer(five, policy({ boundedLoadFactor: 1.25 }), d);
    const hash = hashString('one hot key');
    const home = b.pick({ hash })?.id;
    let total = 0;
    for (let i = 0; i < 1000; i++) {
      const e = b.pick({ hash }) as Endpoint;
      const s = d.stats.get(e.id);
      expect(s.active).toBeLessThan(Math.ceil((1.25 * (total + 1)) / 5));
      s.active++;
      total++;
    }
    const active = five.map((e) => d.stats.get(e.id).active);
    expect(Math.max(...active)).toBeLessThanOrEqual(Math.ceil((1.25 * 1000) / 5));
    expect(d.stats.get(home as string).active).toBe(Math.max(...active));
  });

  it('without bounded load, sends a hot key to one endpoint however loaded', () => {
    const d = deps();
    const b = new RingHashBalancer(five, policy(), d);
    const hash = hashString('one hot key');
    for (let i = 0; i < 100; i++) d.stats.get(b.pick({ hash })!.id).active++;
    expect(five.map((e) => d.stats.get(e.id).active).sort((x, y) => y - x)).toEqual([100, 0, 0, 0, 0]);
  });

  it('keeps the key on its endpoint while that endpoint is under the cap', () => {
    const d = deps();
    const b = new RingHashBalancer(five, policy({ boundedLoadFactor: 2 }), d);
    const hash = hashString('k');
    const home = b.pick({ hash })!.id;
    for (const e of five) d.stats.get(e.id).active = 2;
    // cap = ceil(2 * (10 + 1) / 5) = 5: home (2) is under it.
    expect(b.pick({ hash })?.id).toBe(home);
    d.stats.get(home).active = 5;
    // cap = ceil(2 * (13 + 1) / 5) = 6: home (5) is still under it.
    expect(b.pick({ hash })?.id).toBe(home);
    d.stats.get(home).active = 6;
    // cap = ceil(2 * (14 + 1) / 5) = 6: home is at it.
    expect(b.pick({ hash })?.id).not.toBe(home);
  });
});
