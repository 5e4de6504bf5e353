import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { failureKind, hasBody, isIdempotent, upstreamHeaders } from './http-relay.js';

describe('upstreamHeaders', () => {
  it('drops hop-by-hop headers and those named in Connection, and sets Host', () => {
    const out = upstreamHeaders(
      { host: '127.0.0.1:15001', connection: 'keep-alive, x-trace-hop', 'keep-alive': 'timeout=5', 'x-trace-hop': '1', 'proxy-authorization': 'secret', accept: '*/*' },
      'hello',
    );
    expect(out).toEqual({ host: 'hello', accept: '*/*' });
  });
});

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
