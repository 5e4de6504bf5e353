import { describe, expect, it } from 'vitest';
import { failureKind, isIdempotent } from './http-relay.js';

describe('retry helpers', () => {
  it('classifies undici failures', () => {
    expect(failureKind(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('connect');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe('connect');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe('reset');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toBe('timeout');
    expect(failureKind(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe('aborted');
    expect(failureKind(new Error('x'))).toBe('other');
  });

  it('knows which requests can be replayed', () => {
    expect(isIdempotent('GET') && isIdempotent('PUT') && !isIdempotent('POST') && !isIdempotent(undefined)).toBe(true);
  });
});
