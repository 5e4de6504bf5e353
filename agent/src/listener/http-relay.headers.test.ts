import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { downstreamHeaders, failureKind, hasBody, isIdempotent, upstreamHeaders } from './http-relay.js';

// Complements http-relay.test.ts: each hop-by-hop header on its own, the
// Connection list as clients really write it, and the retry classification.

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect'];

describe('upstreamHeaders', () => {
  it.each(HOP_BY_HOP)('drops %s', (name) => {
    expect(upstreamHeaders({ [name]: 'v', accept: 'text/plain' }, 'orders')).toEqual({ accept: 'text/plain', host: 'orders' });
  });

  it('drops headers named in Connection whatever their case and spacing', () => {
    const out = upstreamHeaders({ connection: 'Keep-Alive ,  X-Hop-One,x-hop-two', 'x-hop-one': '1', 'x-hop-two': '2', 'x-end-to-end': '3' }, 'orders');
    expect(out).toEqual({ 'x-end-to-end': '3', host: 'orders' });
  });

  it('keeps end-to-end headers, list values included, and does not touch its input', () => {
    const input = { host: 'orders:15001', authorization: 'Bearer t', cookie: 'a=1', 'x-list': ['a', 'b'], 'content-length': '3' };
    const copy = structuredClone(input);
    const out = upstreamHeaders(input, 'orders');
    expect(out).toEqual({ host: 'orders', authorization: 'Bearer t', cookie: 'a=1', 'x-list': ['a', 'b'], 'content-length': '3' });
    expect(input).toEqual(copy);
  });

  it('replaces Host with the service name, or keeps the original without one', () => {
    expect(upstreamHeaders({ host: '127.0.0.1:15001' }, 'orders').host).toBe('orders');
    expect(upstreamHeaders({ host: 'orders:15006' }).host).toBe('orders:15006');
    expect(upstreamHeaders({}, 'orders')).toEqual({ host: 'orders' });
  });

  it('skips headers whose value is undefined', () => {
    expect(upstreamHeaders({ accept: undefined, 'x-a': '1' })).toEqual({ 'x-a': '1' });
  });
});

describe('downstreamHeaders', () => {
  it('drops hop-by-hop headers of the answer and keeps the rest', () => {
    const out = downstreamHeaders({
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'content-type': 'application/json',
      'set-cookie': ['a=1', 'b=2'],
      'x-missing': undefined,
    });
    expect(out).toEqual({ 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
  });
});

describe('failureKind', () => {
  const err = (fields: Record<string, unknown>) => Object.assign(new Error('x'), fields);

  it.each([
    ['ECONNREFUSED', 'connect'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect'],
    ['EHOSTUNREACH', 'connect'],
    ['ENOTFOUND', 'connect'],
    ['ECONNRESET', 'reset'],
    ['UND_ERR_SOCKET', 'reset'],
    ['EPIPE', 'reset'],
    ['UND_ERR_CLOSED', 'reset'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'timeout'],
    ['UND_ERR_ABORTED', 'aborted'],
    ['UND_ERR_INVALID_ARG', 'other'],
  ])('classifies code %s as %s', (code, kind) => {
    expect(failureKind(err({ code }))).toBe(kind);
  });

  it('reads the code of a wrapped cause when the error has none', () => {
    expect(failureKind(new TypeError('fetch failed', { cause: err({ code: 'ECONNREFUSED' }) }))).toBe('connect');
    expect(failureKind(new TypeError('fetch failed', { cause: err({ code: 'UND_ERR_SOCKET' }) }))).toBe('reset');
  });

  it('classifies abort errors by name, as undici and the client-gone signal raise them', () => {
    expect(failureKind(err({ name: 'AbortError' }))).toBe('aborted');
    expect(failureKind(new DOMException('This operation was aborted', 'AbortError'))).toBe('aborted');
    expect(failureKind(err({ name: 'RequestAbortedError', code: 'UND_ERR_ABORTED' }))).toBe('aborted');
  });

  it('classifies errors without a known code as other', () => {
    expect(failureKind(new Error('boom'))).toBe('other');
    expect(failureKind(new RangeError('bad'))).toBe('other');
  });
});

describe('hasBody and isIdempotent', () => {
  const withHeaders = (headers: Record<string, string>) => ({ headers }) as IncomingMessage;

  it.each([
    [{}, false],
    [{ 'content-length': '0' }, false],
    [{ 'content-length': '12' }, true],
    [{ 'transfer-encoding': 'chunked' }, true],
    [{ 'transfer-encoding': 'chunked', 'content-length': '0' }, true],
  ])('hasBody(%o) is %s', (headers, expected) => {
    expect(hasBody(withHeaders(headers))).toBe(expected);
  });

  it.each([
    ['GET', true],
    ['HEAD', true],
    ['OPTIONS', true],
    ['PUT', true],
    ['DELETE', true],
    ['TRACE', true],
    ['POST', false],
    ['PATCH', false],
    ['CONNECT', false],
    ['get', false],
    [undefined, false],
  ])('isIdempotent(%s) is %s', (method, expected) => {
    expect(isIdempotent(method)).toBe(expected);
  });
});
