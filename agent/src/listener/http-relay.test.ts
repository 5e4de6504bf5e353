import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { failureKind, hasBody, isIdempotent } from './http-relay.js';

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
    expect(hasBody({ headers: {} } as IncomingMessage)).toBe(false);
    expect(hasBody({ headers: { 'content-length': '0' } } as IncomingMessage)).toBe(false);
    expect(hasBody({ headers: { 'content-length': '3' } } as IncomingMessage)).toBe(true);
    expect(hasBody({ headers: { 'transfer-encoding': 'chunked' } } as IncomingMessage)).toBe(true);
  });
});
