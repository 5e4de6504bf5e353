import { buildRing, type HashMember, runSteps, tableChecksum } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ringSlices } from './ring-slices.js';

const members = (n: number, weight = (i: number) => 1 + (i % 3)): HashMember[] =>
  Array.from({ length: n }, (_, i) => ({ id: `m-${i}`, weight: weight(i) }));

describe('ringSlices', () => {
  it.each([
    [1, 16],
    [3, 1024],
    [300, 1024],
    [300, 40_000],
    [7, 5000],
  ])('builds the ring buildRing builds, point for point (%i members, min %i points)', (n, minSize) => {
    const m = members(n);
    const sliced = runSteps(ringSlices(m, minSize, 1000));
    const whole = buildRing(m, minSize);
    expect(sliced.ids).toEqual(whole.ids);
    expect(Buffer.from(sliced.points.buffer).equals(Buffer.from(whole.points.buffer))).toBe(true);
    expect(Buffer.from(sliced.owners.buffer).equals(Buffer.from(whole.owners.buffer))).toBe(true);
    expect(tableChecksum(sliced)).toBe(tableChecksum(whole));
  });

  it('yields between slices: no step sorts or merges more than a slice', () => {
    let steps = 0;
    const gen = ringSlices(members(300), 40_000, 4096);
    for (let r = gen.next(); r.done !== true; r = gen.next()) steps++;
    // 40000+ points: about 10 slices to make, 10 runs to sort, 4 merge passes of 10, 10 to unpack.
    expect(steps).toBeGreaterThan(60);
  });

  it('builds an empty ring over no members', () => {
    expect(runSteps(ringSlices([], 1024)).points).toHaveLength(0);
  });
});
