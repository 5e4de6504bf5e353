import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { failureKind, isIdempotent } from './http-relay.js';
import { rawUpstreamHeaders } from './relay-handler.js';

// Complements http-relay.test.ts: the retry classification in detail.
// (Header hygiene is tested in relay-handler.test.ts.)

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

describe('whether a request has a body, and isIdempotent', () => {
  const withHeaders = (headers: Record<string, string>) => ({ rawHeaders: Object.entries(headers).flat() }) as IncomingMessage;

  it.each([
    [{}, false],
    [{ 'content-length': '0' }, false],
    [{ 'content-length': '12' }, true],
    [{ 'transfer-encoding': 'chunked' }, true],
    [{ 'transfer-encoding': 'chunked', 'content-length': '0' }, true],
  ])('rawUpstreamHeaders(%o).hasBody is %s', (headers, expected) => {
    expect(rawUpstreamHeaders(withHeaders(headers)).hasBody ?? false).toBe(expected);
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
