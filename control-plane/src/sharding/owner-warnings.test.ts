import { describe, expect, it } from 'vitest';
import { type OwnerCandidate, ownerWarnings } from './owner-warnings.js';

describe('ownerWarnings', () => {
  it('names the ranges whose owner matches no registered instance', () => {
    const endpoints: OwnerCandidate[] = [
      { id: 'kv-1', labels: {} },
      { id: 'kv-3', labels: { shard: 'c', zone: 'a' } },
    ];
    const warnings = ownerWarnings(
      'kv',
      {
        kind: 'range',
        key: { header: 'k' },
        compare: 'string',
        ranges: [
          { to: 'h', instance: 'kv-1' },
          { from: 'h', to: 'q', instance: 'kv-9' },
          { from: 'q', to: 't', subset: { shard: 'c' } },
          { from: 't', subset: { shard: 'd' } },
        ],
      },
      endpoints,
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('["h", "q") → instance "kv-9"');
    expect(warnings[1]).toContain('subset {"shard":"d"}');
  });
});
