import { describe, expect, it } from 'vitest';
import { extractShardKey } from './range-key.js';

describe('extractShardKey', () => {
  it('reads a header, refusing a repeated one', () => {
    expect(extractShardKey({ header: 'X-Tenant' }, { headers: { 'x-tenant': 'acme' }, path: '/' })).toEqual({
      key: 'acme',
    });
    expect(extractShardKey({ header: 'x-tenant' }, { headers: {}, path: '/' })).toHaveProperty('missing');
    const repeated = { headers: { 'x-tenant': 'a, b' }, rawHeaders: ['X-Tenant', 'a', 'x-tenant', 'b'], path: '/' };
    expect(extractShardKey({ header: 'x-tenant' }, repeated)).toHaveProperty('invalid');
  });

  it('reads a query parameter, decoded, refusing a repeated one', () => {
    expect(extractShardKey({ query: 'id' }, { headers: {}, path: '/a?x=1&id=%C3%A9+b' })).toEqual({ key: 'é b' });
    expect(extractShardKey({ query: 'id' }, { headers: {}, path: '/a?x=1' })).toHaveProperty('missing');
    expect(extractShardKey({ query: 'id' }, { headers: {}, path: '/a' })).toHaveProperty('missing');
    expect(extractShardKey({ query: 'id' }, { headers: {}, path: '/a?id=1&id=2' })).toHaveProperty('invalid');
  });

  it('reads a path segment from 0, decoded; a broken encoding is invalid', () => {
    expect(extractShardKey({ pathSegment: 1 }, { headers: {}, path: '/users/42/orders?id=9' })).toEqual({ key: '42' });
    expect(extractShardKey({ pathSegment: 0 }, { headers: {}, path: '/a%20b' })).toEqual({ key: 'a b' });
    expect(extractShardKey({ pathSegment: 3 }, { headers: {}, path: '/users/42' })).toHaveProperty('missing');
    expect(extractShardKey({ pathSegment: 1 }, { headers: {}, path: '/users//x' })).toHaveProperty('missing');
    expect(extractShardKey({ pathSegment: 0 }, { headers: {}, path: '/%zz' })).toHaveProperty('invalid');
  });

  it('decodes a header key as UTF-8, as the shard API reads ?key= (node hands header bytes over as Latin-1)', () => {
    // The UTF-8 bytes of "ö" (C3 B6), as node reads them: "Ã¶".
    const wire = Buffer.from('ö-tenant', 'utf8').toString('latin1');
    expect(wire).not.toBe('ö-tenant');
    expect(extractShardKey({ header: 'x-key' }, { headers: { 'x-key': wire }, path: '/' })).toEqual({
      key: 'ö-tenant',
    });
    // A lone Latin-1 byte (0xFF) is not UTF-8: refused rather than routed under another key.
    expect(extractShardKey({ header: 'x-key' }, { headers: { 'x-key': 'ÿ' }, path: '/' })).toHaveProperty('invalid');
  });

  it('treats an empty key as no key, for every key source', () => {
    expect(extractShardKey({ header: 'x-key' }, { headers: { 'x-key': '' }, path: '/' })).toHaveProperty('missing');
    expect(extractShardKey({ query: 'k' }, { headers: {}, path: '/a?k=' })).toHaveProperty('missing');
    expect(extractShardKey({ query: 'k' }, { headers: {}, path: '/a?k' })).toHaveProperty('missing');
    expect(extractShardKey({ pathSegment: 0 }, { headers: {}, path: '//x' })).toHaveProperty('missing');
  });

  it('attack: dot segments and encoded slashes in the path make a normalizing hop read another segment as the key', () => {
    const seg = (path: string) => extractShardKey({ pathSegment: 1 }, { headers: {}, path });
    // GET /t1/%2e%2e/t2/x: keyed "t1"'s segment ("%2e%2e") here, while a hop that resolves it serves /t2/x.
    for (const path of [
      '/t1/%2e%2e/t2/x',
      '/t1/%2E%2e/t2/x',
      '/t1/../t2/x',
      '/./t1/x',
      '/t1/.%2e/x',
      '/t1/%2e/x',
      '/t1/k/..',
      '/t1/k/%2e%2e%2fa',
      '/a%2Fb/k',
      '/a%5cb/k',
      '/a\\b/k',
      '/t1/k%2Fx',
    ])
      expect(seg(path), path).toHaveProperty('invalid');
    expect(seg('/t1/k/a%2Fb')).toEqual({ key: 'k' });
    expect(seg('/t1/k.v/..x/x')).toEqual({ key: 'k.v' });
  });
});
