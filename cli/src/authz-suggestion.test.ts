import { describe, expect, it } from 'vitest';
import { suggestAuthzPolicy } from './authz-suggestion.js';

const seen = {
  service: 'orders',
  since: '2026-12-04T20:00:00.000Z',
  callers: [
    { service: 'web', requests: 120, lastSeenAt: '2026-12-04T21:00:00.000Z' },
    { service: 'batch', requests: 3, lastSeenAt: '2026-12-04T20:30:00.000Z' },
  ],
  unidentifiedRequests: 0,
};

describe('suggestAuthzPolicy', () => {
  it('allows exactly the callers seen, in one named rule, as an apply -f document', () => {
    const s = suggestAuthzPolicy(seen, 'enforce');
    expect(s?.document).toEqual({
      kind: 'AuthorizationPolicy',
      service: 'orders',
      policy: { mode: 'enforce', rules: [{ name: 'seen-callers', action: 'allow', from: ['batch', 'web'] }] },
    });
    expect(s?.comments.join('\n')).toContain('web: 120 requests');
    expect(s?.comments.join('\n')).toContain('--mode audit');
  });

  it('says so when some requests came from agents without a service identity', () => {
    const s = suggestAuthzPolicy({ ...seen, unidentifiedRequests: 7 }, 'audit');
    expect(s?.document.policy.mode).toBe('audit');
    expect(s?.comments.join('\n')).toContain('7 requests came from agents with no service identity');
  });

  it('says the callers are self-reported, and with replicas that only one replica was asked', () => {
    const alone = suggestAuthzPolicy(seen, 'enforce')?.comments.join('\n') ?? '';
    expect(alone).toMatch(/Callers are self-reported/);
    expect(alone).not.toMatch(/replicas/);
    const replicated = suggestAuthzPolicy({ ...seen, replicated: true }, 'enforce')?.comments.join('\n') ?? '';
    expect(replicated).toMatch(/only the agents connected to the replica that answered were seen/);
  });

  it('suggests nothing when no caller was seen: an empty policy is refused', () => {
    expect(suggestAuthzPolicy({ ...seen, callers: [] }, 'enforce')).toBeUndefined();
  });
});
