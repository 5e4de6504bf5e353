import { describe, expect, it } from 'vitest';
import { checkRestoredState } from './restore-check.js';

describe('checkRestoredState', () => {
  it('accepts the keys the control plane keeps, with valid values', () => {
    const state = new Map<string, unknown>([
      ['services', ['orders', 'web']],
      ['cluster', { id: 'c-1' }],
      ['policies/orders', { retries: { maxRetries: 3 } }],
      ['drains/orders-1', { reason: 'kernel upgrade' }],
      ['authz/orders', { rules: [{ from: ['web'] }] }],
      ['shard-generations/orders', 7],
      [
        'join-credentials/0123456789abcdef',
        { id: '0123456789abcdef', service: 'orders', createdAt: 1, expiresAt: 2, secretSha256: 'a'.repeat(64) },
      ],
    ]);
    expect(checkRestoredState(state)).toBeUndefined();
  });

  it.each([
    ['services', { x: 1 }, /must be a list of service names/],
    ['services', 'ab', /must be a list of service names/],
    ['policies/orders', { retries: { maxRetries: 99 } }, /maxRetries/],
    ['policies/Not_A_Name', {}, /valid service name/],
    ['drains/orders-1', { why: 'x' }, /must be \{reason\}/],
    ['authz/orders', { rules: [{ from: ['Web'] }] }, /rules\.0\.from\.0/],
    ['authz/Not_A_Name', {}, /authorization policy of a valid service name/],
    ['join-credentials/0123456789abcdef', { id: '0123456789abcdef', secret: 'x' }, /must be a join credential/],
    [
      'join-credentials/ffffffffffffffff',
      { id: '0123456789abcdef', service: 'orders', createdAt: 1, expiresAt: 2, secretSha256: 'a'.repeat(64) },
      /another id/,
    ],
    ['shard-generations/orders', -1, /must be a generation/],
    ['constructor', {}, /not a key this control plane keeps/],
    ['__proto__', {}, /not a key this control plane keeps/],
  ])('refuses %s = %j, naming the key', (key, value, problem) => {
    const message = checkRestoredState(new Map([[key, value]]));
    expect(message).toMatch(problem);
    expect(message).toContain(`key "${key}"`);
    expect(message).toMatch(/nothing was restored$/);
  });
});
