const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * How an attempt that got no answer failed: `connect` (the request never
 * left), `reset` (the connection dropped, the app may have acted),
 * `timeout`, `aborted` (our client left), `other`. The retry policy and the
 * inbound listener's answers both go by it.
 */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'aborted' | 'other';

/** Classifies an error thrown by undici (or wrapping one as its `cause`). */
export function failureKind(err: unknown): FailureKind {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (RESET_CODES.has(code)) return 'reset';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (e.name === 'AbortError' || code === 'UND_ERR_ABORTED') return 'aborted';
  return 'other';
}
