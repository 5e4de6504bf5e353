import { buildMaglevTable, buildRing, resolvePolicy, tableChecksum } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { HashTableCache } from './hash-table-cache.js';

const members = [
  { id: 'b', weight: 2 },
  { id: 'a', weight: 1 },
  { id: 'c', weight: 1 },
];

describe('HashTableCache', () => {
  it('builds in slices the same Maglev table and ring as a build at once, each taken once', async () => {
    const cache = new HashTableCache();
    const maglev = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 131_071 } }).balancer;
    const ring = resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 100_000 } }).balancer;
    // The event loop turns while they build: other work (requests) runs between slices.
    let turns = 0;
    let done = false;
    const tick = () => {
      turns++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    await cache.prebuild(maglev, members);
    await cache.prebuild(ring, members);
    done = true;
    expect(cache.size).toBe(2);
    const t = cache.takeMaglev(maglev, [...members].reverse());
    expect(tableChecksum(t!)).toBe(tableChecksum(buildMaglevTable(members, 131_071)));
    expect(cache.takeMaglev(maglev, members)).toBeUndefined();
    expect(tableChecksum(cache.takeRing(ring, members)!)).toBe(tableChecksum(buildRing(members, 100_000)));
    expect(cache.size).toBe(0);
    expect(turns).toBeGreaterThan(2);
  });

  it('gives nothing for other members, another size or a balancer without a table', async () => {
    const cache = new HashTableCache();
    const maglev = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 251 } }).balancer;
    await cache.prebuild(maglev, members);
    expect(cache.takeMaglev({ ...maglev, maglevTableSize: 257 }, members)).toBeUndefined();
    expect(cache.takeMaglev(maglev, members.slice(1))).toBeUndefined();
    expect(cache.takeRing(maglev, members)).toBeUndefined();
    await cache.prebuild(resolvePolicy({}).balancer, members);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('stops building, keeping nothing, at the first slice after abandoned() answers true', async () => {
    const cache = new HashTableCache();
    const maglev = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } }).balancer;
    let asked = 0;
    await cache.prebuild(maglev, members, () => ++asked >= 2);
    expect(asked).toBe(2);
    expect(cache.size).toBe(0);
    asked = 0;
    await cache.prebuild(maglev, members, () => (asked++, false));
    expect(asked).toBeGreaterThan(2);
    expect(cache.size).toBe(1);
  });
});
