import { describe, expect, it } from 'vitest';
import { resolvePolicy } from './resolve-policy.js';
import { type ShardingPolicy, shardingPolicyIssues } from './sharding-policy.js';

const policy = (ranges: ShardingPolicy['ranges'], compare: 'string' | 'integer' = 'string'): ShardingPolicy => ({
  kind: 'range',
  key: { header: 'x-tenant' },
  compare,
  ranges,
});
const paths = (p: ShardingPolicy) => shardingPolicyIssues(p, 'sharding.').map((i) => i.path);

describe('shardingPolicyIssues', () => {
  it('accepts sorted ranges with gaps, open ends and either owner', () => {
    expect(
      paths(
        policy([
          { to: 'g', instance: 'a-1' },
          { from: 'g', to: 'p', subset: { shard: 'b' } },
          { from: 'x', instance: 'c-1' },
        ]),
      ),
    ).toEqual([]);
    expect(
      paths(
        policy(
          [
            { from: -5, to: '10', instance: 'a' },
            { from: 10, instance: 'b' },
          ],
          'integer',
        ),
      ),
    ).toEqual([]);
  });

  it('names overlapping and unsorted ranges', () => {
    const issues = shardingPolicyIssues(
      policy([
        { from: 'a', to: 'm', instance: 'a' },
        { from: 'k', to: 'z', instance: 'b' },
      ]),
      'sharding.',
    );
    expect(issues.map((i) => i.path)).toEqual(['sharding.ranges.1.from']);
    expect(issues[0]?.problem).toContain('overlap');
    expect(issues[0]?.fix).toContain('sort the ranges');
  });

  it('names empty ranges, missing and double owners, inner open ends', () => {
    expect(
      paths(
        policy([
          { from: 'm', to: 'a', instance: 'a', subset: { s: '1' } },
          { from: 'm', to: 'n' },
          { to: 'q', instance: 'c' },
          { from: 'q', subset: {} },
          { from: 'z', instance: 'd' },
        ]),
      ),
    ).toEqual([
      'sharding.ranges.0',
      'sharding.ranges.0.to',
      'sharding.ranges.1',
      'sharding.ranges.2.from',
      'sharding.ranges.3.subset',
      'sharding.ranges.3.to',
    ]);
  });

  it('under compare integer, refuses bounds that are not integers; under string, numbers', () => {
    expect(paths(policy([{ from: '1e3', to: '0x10', instance: 'a' }], 'integer'))).toEqual([
      'sharding.ranges.0.from',
      'sharding.ranges.0.to',
    ]);
    expect(paths(policy([{ from: 1, instance: 'a' }]))).toEqual(['sharding.ranges.0.from']);
  });

  it('compares integers as numbers, not as strings', () => {
    // "9" > "10" as strings: as integers it is a valid order.
    expect(paths(policy([{ from: '9', to: '10', instance: 'a' }], 'integer'))).toEqual([]);
    expect(paths(policy([{ from: '9', to: '10', instance: 'a' }]))).toEqual(['sharding.ranges.0.to']);
  });
});

describe('resolvePolicy with sharding', () => {
  it('fills compare and refuses an invalid map naming the field', () => {
    const p = resolvePolicy({ sharding: { kind: 'range', key: { query: 'k' }, ranges: [{ instance: 'a' }] } });
    expect(p.sharding?.compare).toBe('string');
    expect(() =>
      resolvePolicy({
        sharding: { kind: 'range', key: { query: 'k' }, ranges: [{ from: 'b', to: 'a', instance: 'a' }] },
      }),
    ).toThrow(/sharding\.ranges\.0\.to/);
    expect(() => resolvePolicy({ sharding: { kind: 'hash', key: { query: 'k' }, ranges: [] } })).toThrow(/sharding/);
  });
});
