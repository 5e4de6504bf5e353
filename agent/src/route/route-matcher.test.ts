import type { IncomingHttpHeaders } from 'node:http';
import { type RouteRule, seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { matchesSubset, RouteMatcher } from './route-matcher.js';

const noRandom = () => {
  throw new Error('random() drawn where no draw was needed');
};

const req = (path: string, method = 'GET', headers: IncomingHttpHeaders = {}) => ({ method, path, headers });

/** Name of the rule a request matches, or undefined. */
function ruleOf(rules: RouteRule[], r: ReturnType<typeof req>): string | undefined {
  return new RouteMatcher(rules, () => 0).match(r)?.rule.name;
}

describe('RouteMatcher', () => {
  it('matches nothing without rules, and draws nothing', () => {
    expect(new RouteMatcher([], noRandom).match(req('/'))).toBeUndefined();
  });

  it('matches a path prefix as a plain string prefix, query and fragment excluded (as Envoy)', () => {
    const rules: RouteRule[] = [{ name: 'api', match: { pathPrefix: '/api' } }];
    for (const p of ['/api', '/api/x', '/api?q=1', '/apix', '/api#top']) expect(ruleOf(rules, req(p)), p).toBe('api');
    for (const p of ['/ap', '/', '/x/api', '/API', '/ap?i', '/ap#i']) expect(ruleOf(rules, req(p)), p).toBeUndefined();
    // The query is never part of what the prefix sees, even when the prefix would spell it out.
    expect(ruleOf([{ name: 'q', match: { pathPrefix: '/search?q' } }], req('/search?q=1'))).toBeUndefined();
    expect(ruleOf([{ name: 'f', match: { pathPrefix: '/doc#' } }], req('/doc#top'))).toBeUndefined();
  });

  it('lets a trailing slash mean the folder only', () => {
    const rules: RouteRule[] = [{ name: 'api', match: { pathPrefix: '/api/' } }];
    expect(ruleOf(rules, req('/api/x'))).toBe('api');
    expect(ruleOf(rules, req('/apix'))).toBeUndefined();
    expect(ruleOf(rules, req('/api'))).toBeUndefined();
  });

  it('reads the path of an absolute-form target', () => {
    const rules: RouteRule[] = [{ name: 'api', match: { pathPrefix: '/api' } }];
    expect(ruleOf(rules, req('http://orders/api/x?q'))).toBe('api');
    expect(ruleOf(rules, req('http://orders:8080/v1/api'))).toBeUndefined();
    expect(ruleOf([{ name: 'root', match: { pathPrefix: '/' } }], req('http://orders'))).toBe('root');
  });

  it('matches any of the listed methods', () => {
    const rules: RouteRule[] = [{ name: 'writes', match: { methods: ['POST', 'PUT'] } }];
    expect(ruleOf(rules, req('/', 'POST'))).toBe('writes');
    expect(ruleOf(rules, req('/', 'PUT'))).toBe('writes');
    expect(ruleOf(rules, req('/', 'GET'))).toBeUndefined();
  });

  it('matches header conditions: exact, prefix, present and absent, names case-insensitive', () => {
    const one = (h: NonNullable<RouteRule['match']['headers']>[number], headers: IncomingHttpHeaders) =>
      ruleOf([{ name: 'h', match: { headers: [h] } }], req('/', 'GET', headers)) === 'h';
    expect(one({ name: 'X-Canary', exact: 'yes' }, { 'x-canary': 'yes' })).toBe(true);
    expect(one({ name: 'X-Canary', exact: 'yes' }, { 'x-canary': 'Yes' })).toBe(false);
    expect(one({ name: 'X-Canary', exact: 'yes' }, {})).toBe(false);
    expect(one({ name: 'x-user', prefix: 'tester-' }, { 'x-user': 'tester-7' })).toBe(true);
    expect(one({ name: 'x-user', prefix: 'tester-' }, { 'x-user': 'ops' })).toBe(false);
    expect(one({ name: 'x-user', prefix: '' }, { 'x-user': '' })).toBe(true);
    expect(one({ name: 'x-debug', present: true }, { 'x-debug': '' })).toBe(true);
    expect(one({ name: 'x-debug', present: true }, {})).toBe(false);
    expect(one({ name: 'x-debug', present: false }, {})).toBe(true);
    expect(one({ name: 'x-debug', present: false }, { 'x-debug': '1' })).toBe(false);
    expect(one({ name: 'x-debug' }, { 'x-debug': '1' })).toBe(true);
    expect(one({ name: 'x-debug' }, {})).toBe(false);
  });

  it('joins a repeated header with "," before comparing', () => {
    const rules: RouteRule[] = [{ name: 'h', match: { headers: [{ name: 'x-tag', exact: 'a,b' }] } }];
    expect(ruleOf(rules, req('/', 'GET', { 'x-tag': ['a', 'b'] }))).toBe('h');
    expect(ruleOf(rules, req('/', 'GET', { 'x-tag': ['a'] }))).toBeUndefined();
  });

  it('needs every condition of a rule to hold', () => {
    const rules: RouteRule[] = [
      {
        name: 'all',
        match: {
          pathPrefix: '/api',
          methods: ['GET'],
          headers: [
            { name: 'x-a', exact: '1' },
            { name: 'x-b', present: true },
          ],
        },
      },
    ];
    expect(ruleOf(rules, req('/api', 'GET', { 'x-a': '1', 'x-b': '' }))).toBe('all');
    expect(ruleOf(rules, req('/web', 'GET', { 'x-a': '1', 'x-b': '' }))).toBeUndefined();
    expect(ruleOf(rules, req('/api', 'POST', { 'x-a': '1', 'x-b': '' }))).toBeUndefined();
    expect(ruleOf(rules, req('/api', 'GET', { 'x-a': '1' }))).toBeUndefined();
    expect(ruleOf(rules, req('/api', 'GET', { 'x-a': '2', 'x-b': '' }))).toBeUndefined();
  });

  it('takes the first matching rule in order', () => {
    const rules: RouteRule[] = [
      { name: 'canary-users', match: { pathPrefix: '/api', headers: [{ name: 'x-canary', exact: '1' }] } },
      { name: 'api', match: { pathPrefix: '/api' } },
      { name: 'api-v2', match: { pathPrefix: '/api/v2' } },
      { name: 'catch-all', match: {} },
    ];
    expect(ruleOf(rules, req('/api/v2/x', 'GET', { 'x-canary': '1' }))).toBe('canary-users');
    expect(ruleOf(rules, req('/api/v2/x'))).toBe('api');
    expect(ruleOf(rules, req('/web'))).toBe('catch-all');
  });

  it('gives no split to a rule without splits, or whose splits all weigh 0, and draws nothing then', () => {
    const m = new RouteMatcher(
      [
        { name: 'none', match: { pathPrefix: '/none' } },
        {
          name: 'zero',
          match: {},
          splits: [
            { service: 'a', weight: 0 },
            { service: 'b', weight: 0 },
          ],
        },
      ],
      noRandom,
    );
    expect(m.match(req('/none'))).toMatchObject({ rule: { name: 'none' }, split: undefined });
    expect(m.match(req('/x'))).toMatchObject({ rule: { name: 'zero' }, split: undefined });
  });

  it('never draws a split of weight 0', () => {
    const rules: RouteRule[] = [
      {
        match: {},
        splits: [
          { service: 'a', weight: 0 },
          { service: 'b', weight: 1 },
          { service: 'c', weight: 0 },
        ],
      },
    ];
    expect(new RouteMatcher(rules, noRandom).match(req('/'))?.split?.service).toBe('b');
    const two: RouteRule[] = [
      {
        match: {},
        splits: [
          { service: 'a', weight: 0 },
          { service: 'b', weight: 1 },
          { service: 'c', weight: 1 },
          { service: 'd', weight: 0 },
        ],
      },
    ];
    for (const r of [0, 0.49, 0.5, 0.999999, 1])
      expect(new RouteMatcher(two, () => r).match(req('/'))?.split?.service, String(r)).not.toMatch(/[ad]/);
  });

  it('splits a canary 90/10 within 2 points over 10k requests', () => {
    const rules: RouteRule[] = [
      {
        name: 'canary',
        match: {},
        splits: [
          { subset: { version: 'v1' }, weight: 90 },
          { subset: { version: 'v2' }, weight: 10 },
        ],
      },
    ];
    const m = new RouteMatcher(rules, seededRandom(20240601));
    let v2 = 0;
    for (let i = 0; i < 10_000; i++) if (m.match(req('/'))?.split?.subset?.version === 'v2') v2++;
    expect(Math.abs(v2 / 100 - 10)).toBeLessThanOrEqual(2);
    expect(v2).toBeGreaterThan(0);
  });

  it('sends GET and HEAD to replicas and everything else to the primary', () => {
    const rules: RouteRule[] = [
      { name: 'reads', match: { methods: ['GET', 'HEAD'] }, splits: [{ subset: { role: 'replica' }, weight: 1 }] },
      { name: 'writes', match: {}, splits: [{ subset: { role: 'primary' }, weight: 1 }] },
    ];
    const m = new RouteMatcher(rules, noRandom);
    const role = (method: string) => m.match(req('/items/1', method))?.split?.subset?.role;
    expect(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map(role)).toEqual([
      'replica',
      'replica',
      'primary',
      'primary',
      'primary',
      'primary',
      'primary',
    ]);
    const replica = { role: 'replica', zone: 'a' };
    const primary = { role: 'primary', zone: 'a' };
    const subset = m.match(req('/', 'GET'))?.split?.subset;
    expect([matchesSubset(replica, subset), matchesSubset(primary, subset)]).toEqual([true, false]);
  });
});

describe('matchesSubset', () => {
  it('selects every endpoint without a subset or with an empty one', () => {
    expect(matchesSubset({}, undefined)).toBe(true);
    expect(matchesSubset({ a: '1' }, {})).toBe(true);
  });

  it('needs every label of the subset with the same value', () => {
    expect(matchesSubset({ role: 'replica', zone: 'a' }, { role: 'replica' })).toBe(true);
    expect(matchesSubset({ role: 'replica', zone: 'a' }, { role: 'replica', zone: 'a' })).toBe(true);
    expect(matchesSubset({ role: 'replica', zone: 'a' }, { role: 'replica', zone: 'b' })).toBe(false);
    expect(matchesSubset({ role: 'replica' }, { role: 'replica', zone: 'a' })).toBe(false);
    expect(matchesSubset({ role: '' }, { role: '' })).toBe(true);
    expect(matchesSubset({}, { role: '' })).toBe(false);
  });

  it('does not take inherited properties for labels', () => {
    expect(matchesSubset({}, { constructor: Object.prototype.constructor as unknown as string })).toBe(false);
    expect(matchesSubset({}, { toString: '' })).toBe(false);
  });
});
