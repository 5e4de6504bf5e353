import { type AuthzPolicy, resolveAuthzPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { authzCaller } from './authz-caller.js';
import { evaluateAuthz } from './evaluate-authz.js';

const TD = 'meshlet.local';
const id = (service: string, td = TD) => `spiffe://${td}/svc/${service}`;
const call = (caller: string | undefined, method = 'GET', path = '/') => ({
  caller: authzCaller(caller, TD),
  method,
  path,
});
const decide = (policy: unknown, caller: string | undefined, method?: string, path?: string) => {
  const d = evaluateAuthz(policy === undefined ? undefined : resolveAuthzPolicy(policy), call(caller, method, path));
  return d.kind === 'allow' ? 'allow' : `${d.kind}:${d.rule}`;
};

const webReadsOnly: Partial<AuthzPolicy> = {
  rules: [
    { name: 'web-reads', action: 'allow', from: ['web'], methods: ['GET', 'HEAD'], paths: ['/api/'] },
    { name: 'admin-from-ops', action: 'allow', from: ['ops'], paths: ['/admin'] },
  ],
};

describe('evaluateAuthz', () => {
  it.each([
    // [case, policy, caller, method, path, expected]
    ['no policy: an authenticated caller', undefined, id('web'), 'POST', '/x', 'allow'],
    ['no policy: a plaintext caller (the mTLS mode let it in)', undefined, undefined, 'GET', '/', 'allow'],
    ['allow rule matches caller, method and path', webReadsOnly, id('web'), 'GET', '/api/orders', 'allow'],
    ['allowed caller, other method', webReadsOnly, id('web'), 'POST', '/api/orders', 'deny:no-allow-rule-matched'],
    ['allowed caller, other path', webReadsOnly, id('web'), 'GET', '/admin', 'deny:no-allow-rule-matched'],
    ['another service', webReadsOnly, id('batch'), 'GET', '/api/orders', 'deny:no-allow-rule-matched'],
    [
      'path prefix is a prefix, not a segment match',
      webReadsOnly,
      id('web'),
      'GET',
      '/api',
      'deny:no-allow-rule-matched',
    ],
    ['second allow rule', webReadsOnly, id('ops'), 'DELETE', '/admin/users', 'allow'],
    ['plaintext caller against allow rules', webReadsOnly, undefined, 'GET', '/api/x', 'deny:no-allow-rule-matched'],
    [
      'service name does not match the same name in another trust domain',
      webReadsOnly,
      id('web', 'other.example'),
      'GET',
      '/api/x',
      'deny:no-allow-rule-matched',
    ],
    ['"*" allows any mesh workload', { rules: [{ from: ['*'] }] }, id('batch'), 'PUT', '/', 'allow'],
    [
      '"*" does not allow plaintext callers',
      { rules: [{ from: ['*'] }] },
      undefined,
      'GET',
      '/',
      'deny:no-allow-rule-matched',
    ],
    [
      '"*" does not allow another trust domain',
      { rules: [{ from: ['*'] }] },
      id('web', 'evil.example'),
      'GET',
      '/',
      'deny:no-allow-rule-matched',
    ],
    [
      'a full SPIFFE id names a foreign workload',
      { rules: [{ from: [id('web', 'partner.example')] }] },
      id('web', 'partner.example'),
      'GET',
      '/',
      'allow',
    ],
    [
      '"unauthenticated" allows plaintext callers',
      { rules: [{ from: ['unauthenticated'] }] },
      undefined,
      'GET',
      '/',
      'allow',
    ],
    [
      '"unauthenticated" does not allow authenticated ones',
      { rules: [{ from: ['unauthenticated'] }] },
      id('web'),
      'GET',
      '/',
      'deny:no-allow-rule-matched',
    ],
    [
      'a rule without from matches any caller',
      { rules: [{ paths: ['/healthz'] }] },
      undefined,
      'GET',
      '/healthz',
      'allow',
    ],
    [
      'deny rule wins over an allow rule',
      { rules: [{ from: ['*'] }, { name: 'no-deletes', action: 'deny', methods: ['DELETE'] }] },
      id('web'),
      'DELETE',
      '/',
      'deny:no-deletes',
    ],
    [
      'only deny rules: the rest is allowed',
      { rules: [{ action: 'deny', from: ['batch'] }] },
      id('web'),
      'POST',
      '/',
      'allow',
    ],
    [
      'an unnamed deny rule is named by its index',
      { rules: [{ from: ['web'] }, { action: 'deny', from: ['batch'] }] },
      id('batch'),
      'GET',
      '/',
      'deny:rules[1]',
    ],
    [
      'audit mode reports what it would deny',
      { mode: 'audit', ...webReadsOnly },
      id('batch'),
      'GET',
      '/',
      'audit-deny:no-allow-rule-matched',
    ],
    ['audit mode allows what enforce allows', { mode: 'audit', ...webReadsOnly }, id('web'), 'GET', '/api/', 'allow'],
    [
      'audit mode deny rule',
      { mode: 'audit', rules: [{ name: 'x', action: 'deny' }] },
      id('web'),
      'GET',
      '/',
      'audit-deny:x',
    ],
  ] as const)('%s', (_case, policy, caller, method, path, expected) => {
    expect(decide(policy, caller, method, path)).toBe(expected);
  });

  it('a certificate naming the reserved service unauthenticated is not read as a plaintext caller or a mesh service', () => {
    const caller = authzCaller(id('unauthenticated'), TD);
    expect(caller).toMatchObject({ service: undefined, label: id('unauthenticated') });
    const policy = resolveAuthzPolicy({ rules: [{ from: ['unauthenticated', '*'] }] });
    expect(evaluateAuthz(policy, { caller, method: 'GET', path: '/' })).toMatchObject({ kind: 'deny' });
  });

  it('an empty policy allows nothing, as in Istio (the schema refuses one; a policy that got here anyway)', () => {
    const empty: AuthzPolicy = { mode: 'enforce', rules: [] };
    expect(evaluateAuthz(empty, call(id('web'), 'GET', '/'))).toMatchObject({ kind: 'deny' });
    expect(() => resolveAuthzPolicy({})).toThrow(/rules .*delete the policy to allow all/);
    expect(() => resolveAuthzPolicy({ rules: [] })).toThrow(/rules/);
  });

  it('refuses a policy with a bad field, naming it and the fix', () => {
    expect(() => resolveAuthzPolicy({ rules: [{ from: ['Web'] }] })).toThrow(/rules\.0\.from\.0 .*service name/);
    expect(() => resolveAuthzPolicy({ rules: [{ methods: ['get'] }] })).toThrow(/upper-case HTTP method/);
    expect(() => resolveAuthzPolicy({ rules: [{ paths: ['api'] }] })).toThrow(/starting with "\/"/);
    expect(() => resolveAuthzPolicy({ mode: 'dry-run' })).toThrow(/mode must be one of "enforce", "audit"/);
    expect(() => resolveAuthzPolicy({ rules: [{ form: ['web'] }] })).toThrow(/form/);
  });
});
