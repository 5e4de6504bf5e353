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
    expect(extractShardKey({ pathSegment: 0 }, { headers: {}, path: '/a%2Fb' })).toEqual({ key: 'a/b' });
    expect(extractShardKey({ pathSegment: 3 }, { headers: {}, path: '/users/42' })).toHaveProperty('missing');
    expect(extractShardKey({ pathSegment: 1 }, { headers: {}, path: '/users//x' })).toHaveProperty('missing');
    expect(extractShardKey({ pathSegment: 0 }, { headers: {}, path: '/%zz' })).toHaveProperty('invalid');
  });
});
