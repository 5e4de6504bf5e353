import { describe, expect, it } from 'vitest';
import { RoundRobinBalancer } from './round-robin.js';
import { countPicks, endpoint, endpoints } from './test-support/fixtures.js';

const three = endpoints('a', 'b', 'c');
const ids = (b: RoundRobinBalancer, n: number, exclude?: ReadonlySet<string>) =>
  Array.from({ length: n }, () => b.pick({ exclude })?.id);

describe('RoundRobinBalancer', () => {
  it('rotates evenly from its start offset', () => {
    const b = new RoundRobinBalancer(three, 1);
    expect(Array.from({ length: 6 }, () => b.pick()?.id)).toEqual(['b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('skips endpoints already tried for the request', () => {
    const b = new RoundRobinBalancer(three);
    expect(b.pick({ exclude: new Set(['a']) })?.id).toBe('b');
    expect(b.pick({ exclude: new Set(['c', 'a']) })?.id).toBe('b');
    expect(b.pick({ exclude: new Set(['a', 'b', 'c']) })).toBeUndefined();
  });

  it('returns undefined with no endpoints', () => {
    expect(new RoundRobinBalancer([], 5).pick()).toBeUndefined();
  });
});

// Evenness over many picks, offsets past the end of the list, and how
// exclusions interact with the rotation.
describe('RoundRobinBalancer rotation', () => {
  it('gives every endpoint the same share over many picks', () => {
    const b = new RoundRobinBalancer(endpoints('a', 'b', 'c', 'd'), 3);
    expect(countPicks(() => b.pick(), 4000)).toEqual({ a: 1000, b: 1000, c: 1000, d: 1000 });
  });

  it('wraps a start offset past the end of the list', () => {
    expect(ids(new RoundRobinBalancer(endpoints('a', 'b', 'c'), 7), 3)).toEqual(['b', 'c', 'a']);
    expect(ids(new RoundRobinBalancer(endpoints('a', 'b', 'c'), 3), 3)).toEqual(['a', 'b', 'c']);
  });

  it('defaults the start to the first endpoint', () => {
    expect(ids(new RoundRobinBalancer(endpoints('a', 'b')), 3)).toEqual(['a', 'b', 'a']);
  });

  it('always returns the only endpoint of a single-endpoint list until it is excluded', () => {
    const b = new RoundRobinBalancer([endpoint('solo')], 5);
    expect(ids(b, 3)).toEqual(['solo', 'solo', 'solo']);
    expect(b.pick({ exclude: new Set(['solo']) })).toBeUndefined();
    expect(b.pick()?.id).toBe('solo');
  });

  it('continues the rotation after the endpoint it returned when it skipped excluded ones', () => {
    const b = new RoundRobinBalancer(endpoints('a', 'b', 'c', 'd'));
    expect(b.pick({ exclude: new Set(['a', 'b']) })?.id).toBe('c');
    expect(ids(b, 2)).toEqual(['d', 'a']);
  });

  it('serves a retry loop: each pick for one request avoids all endpoints tried before it', () => {
    const b = new RoundRobinBalancer(endpoints('a', 'b', 'c'), 2);
    const tried = new Set<string>();
    const order: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) {
      const e = b.pick({ exclude: tried });
      order.push(e?.id);
      if (e) tried.add(e.id);
    }
    expect(order).toEqual(['c', 'a', 'b', undefined]);
  });

  it('ignores ids in the exclude set that are not its endpoints', () => {
    expect(new RoundRobinBalancer(endpoints('a', 'b')).pick({ exclude: new Set(['zzz']) })?.id).toBe('a');
  });

  it('does not weight: a heavier endpoint gets the same share', () => {
    const b = new RoundRobinBalancer([endpoint('heavy', 100), endpoint('light', 1)]);
    expect(ids(b, 4)).toEqual(['heavy', 'light', 'heavy', 'light']);
  });

  it('returns the endpoint objects it was given', () => {
    const list = [endpoint('a')];
    expect(new RoundRobinBalancer(list).pick()).toBe(list[0]);
  });
});
