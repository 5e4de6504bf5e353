import { describe, expect, it } from 'vitest';
import { normalizePath, normalizeTarget } from './normalize-target.js';

describe('normalizeTarget', () => {
  it.each([
    ['/api/orders?x=1', '/api/orders', '/api/orders?x=1'],
    ['/public/../admin', '/admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin', '/admin'],
    ['/public/%2E%2E/admin?q', '/admin', '/admin?q'],
    ['/./admin', '/admin', '/admin'],
    ['//admin/users', '/admin/users', '/admin/users'],
    ['/api//../admin', '/api/admin', '/api/admin'],
    ['\\admin', '/admin', '/admin'],
    ['http://elsewhere/admin?x', '/admin', '/admin?x'],
    ['/admin#frag', '/admin', '/admin'],
    ['*', '*', '*'],
  ])('%s → %s', (target, path, url) => {
    expect(normalizeTarget(target)).toEqual({ ok: true, path, url, escapedSlash: false });
  });

  it('an absolute-form target whose authority the URL parser refuses is still reduced to its path', () => {
    for (const target of ['http://x:99999/admin', 'http://[::1/admin?q', 'http://a b/admin'])
      expect(normalizeTarget(target), target).toMatchObject({ ok: true, path: '/admin' });
    expect(normalizeTarget('http://x:99999')).toMatchObject({ ok: true, path: '/', url: '/' });
  });

  it('a target in neither origin nor absolute form cannot be normalized', () => {
    for (const target of ['admin', 'http:/admin', ''])
      expect(normalizeTarget(target), target).toMatchObject({ ok: false });
  });

  it('percent-encoded unreserved characters are decoded, so /%61dmin is /admin', () => {
    expect(normalizeTarget('/%61dmin')).toMatchObject({ path: '/admin' });
    expect(normalizeTarget('/%41%7e%2D%5f')).toMatchObject({ path: '/A~-_' });
    expect(normalizeTarget('/a%3fb%2f')).toMatchObject({ path: '/a%3Fb%2F', escapedSlash: true });
  });

  it('an encoded slash or backslash is kept and reported', () => {
    expect(normalizeTarget('/%2fadmin')).toEqual({ ok: true, path: '/%2Fadmin', url: '/%2Fadmin', escapedSlash: true });
    expect(normalizeTarget('/x%5cadmin')).toMatchObject({ escapedSlash: true });
  });

  it('normalizePath is idempotent', () => {
    for (const p of ['/a/%252e%252e/b', '/%61/./b//c/..', '/x%2f%7Ey'])
      expect(normalizePath(normalizePath(p).path).path).toBe(normalizePath(p).path);
  });
});
