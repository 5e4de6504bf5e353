import { describe, expect, it } from 'vitest';
import { RoundRobinBalancer } from './round-robin.js';
import { endpoints } from './test-support/fixtures.js';

const three = endpoints('a', 'b', 'c');

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
