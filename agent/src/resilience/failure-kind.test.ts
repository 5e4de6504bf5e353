import { describe, expect, it } from 'vitest';
import { failureKind, HANDSHAKE_FAILED_CODE } from './failure-kind.js';

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
    [HANDSHAKE_FAILED_CODE, 'connect'],
    ['MESHLET_IDENTITY_UNAVAILABLE', 'identity'],
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

  it('classifies undici failures', () => {
    expect(failureKind(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe('connect');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe('connect');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe('reset');
    expect(failureKind(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toBe('timeout');
    expect(failureKind(Object.assign(new Error('x'), { name: 'AbortError' }))).toBe('aborted');
    expect(failureKind(new Error('x'))).toBe('other');
  });
});
