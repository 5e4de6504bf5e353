import { AgentErrorCodes } from '../errors.js';

/**
 * The code of an mTLS handshake the callee failed or refused (its
 * certificate, a TLS alert, a reset mid-handshake): no request byte left, so
 * it is a connect failure.
 */
export const HANDSHAKE_FAILED_CODE = 'ERR_MTLS_HANDSHAKE_FAILED';

/**
 * The code of an attempt given up because its endpoint was declared gone
 * while it waited (see `InFlightAttempts`): the request may have reached the
 * app, so it counts as a reset (retried for idempotent requests only, and
 * only those are ever given up).
 */
export const ENDPOINT_LOST_CODE = 'ERR_MESHLET_ENDPOINT_LOST';

const CONNECT_CODES = new Set([
  HANDSHAKE_FAILED_CODE,
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED', ENDPOINT_LOST_CODE]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * How an attempt that got no answer failed: `connect` (the request never
 * left), `reset` (the connection dropped, the app may have acted),
 * `timeout`, `aborted` (our client left), `identity` (this agent has no
 * valid workload certificate to call an mTLS endpoint with: its own
 * problem, never the endpoint's, so neither retried nor counted against
 * it), `other`. The retry policy and the inbound listener's answers both go
 * by it.
 */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'aborted' | 'identity' | 'other';

/** Classifies an error thrown by undici (or wrapping one as its `cause`). */
export function failureKind(err: unknown): FailureKind {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (code === AgentErrorCodes.IDENTITY_UNAVAILABLE) return 'identity';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (RESET_CODES.has(code)) return 'reset';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (e.name === 'AbortError' || code === 'UND_ERR_ABORTED') return 'aborted';
  return 'other';
}
