import { describe, expect, it } from 'vitest';
import { meshctlHints } from './api-hints.js';
import { describeApiError } from './answer-error.js';
import { findResource } from './resources.js';

describe('meshctlHints', () => {
  it('turns the routes the API points to into the meshctl commands that show them', () => {
    expect(meshctlHints('no instance "x" with a known state; see GET /v1/instances')).toBe(
      'no instance "x" with a known state; see meshctl get instances',
    );
    expect(meshctlHints('no service "x"; see GET /v1/services')).toBe('no service "x"; see meshctl get services');
    expect(meshctlHints('send it to the leader (see GET /v1/cluster)')).toBe(
      'send it to the leader (see meshctl get cluster)',
    );
    expect(meshctlHints('no join credential "j"; see GET /v1/join-credentials')).toBe(
      'no join credential "j"; see meshctl token list',
    );
  });

  it('leaves a route without a meshctl command, and a longer path, as they are', () => {
    expect(meshctlHints('see GET /v1/log-level')).toBe('see GET /v1/log-level');
    expect(meshctlHints('see GET /v1/services/x/ring')).toBe('see GET /v1/services/x/ring');
  });
});

describe('describeApiError', () => {
  it('states an issue the message already lists once, with its fix', () => {
    const problem = 'must be one of "round_robin", "random"';
    const text = describeApiError({
      code: 'MESHLET_API_INVALID',
      message: `invalid body: policy.balancer.kind ${problem}`,
      field: 'policy.balancer.kind',
      issues: [{ path: 'policy.balancer.kind', problem, fix: 'pick one of the allowed values' }],
    });
    expect(text).toBe(`invalid body: policy.balancer.kind ${problem} (pick one of the allowed values)`);
  });
});

describe('get policies rows', () => {
  const policies = findResource('policies');
  const defaults = { balancer: { kind: 'round_robin' } };

  it('adds a default row for each service on the defaults, by name', () => {
    const api = { service: 'b', source: 'api', policy: { balancer: { kind: 'random' } }, resourceVersion: '4' };
    const rows = policies?.tableRows?.({ items: [api], defaults: { services: ['a', 'c'], policy: defaults } }, [api]);
    expect(rows?.map((r) => policies?.row(r, 0))).toEqual([
      ['a', 'default', 'round_robin', '-'],
      ['b', 'api', 'random', '4'],
      ['c', 'default', 'round_robin', '-'],
    ]);
  });

  it('shows one (defaults) row when no service runs on the defaults, and nothing more for an older control plane', () => {
    const rows = policies?.tableRows?.({ items: [], defaults: { services: [], policy: defaults } }, []);
    expect(rows?.map((r) => policies?.row(r, 0))).toEqual([['(defaults)', 'default', 'round_robin', '-']]);
    expect(policies?.tableRows?.({ items: [] }, [])).toEqual([]);
  });
});
