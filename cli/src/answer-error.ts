import { AdminApiErrorCodes } from '@meshlet/shared/admin-api';
import { meshctlHints } from './api-hints.js';
import { CliError, CliErrorCodes } from './cli-error.js';
import { type Connection, displayUrl } from './connection.js';
import { sanitize } from './text.js';

/** One problem in a rejected request body, as the admin API reports it. */
export interface ApiIssue {
  path?: string;
  problem?: string;
  fix?: string;
}

/** The admin API's error body: `{ error: { code, message, field?, issues?, leader? } }`. */
export interface ApiErrorBody {
  code?: string;
  message?: string;
  field?: string;
  issues?: ApiIssue[];
  /** With `MESHLET_NOT_LEADER`: the leader replica's advertised admin URL, when one leads. */
  leader?: string;
}

/** What went wrong, for a message: the request and the answer. */
export interface FailedAnswer {
  method: string;
  path: string;
  status: number;
  body: string;
  /** `Retry-After` header, when sent. */
  retryAfter?: string | undefined;
  /** What the command was doing, such as `policy/orders`; default `METHOD PATH`. */
  context?: string | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? sanitize(v) : undefined);

/**
 * Reads the error out of an answer body. Besides the documented shape it
 * understands fastify's own `{ statusCode, error: "Not Found", message }`
 * (an unknown route) and a bare `{ error: "...", message }`.
 */
export function parseApiError(body: string): ApiErrorBody | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.error === 'object' && v.error !== null) {
    const e = v.error as Record<string, unknown>;
    const issues = Array.isArray(e.issues)
      ? e.issues
          .filter((i): i is Record<string, unknown> => typeof i === 'object' && i !== null)
          .map((i) => ({ path: str(i.path), problem: str(i.problem), fix: str(i.fix) }))
      : undefined;
    return { code: str(e.code), message: str(e.message), field: str(e.field), issues, leader: str(e.leader) };
  }
  if (typeof v.message === 'string') return { code: str(v.code), message: str(v.message) };
  if (typeof v.error === 'string') return { message: str(v.error) };
  return undefined;
}

/**
 * `message (field x): path: problem (fix); ...` in one line, with the API's
 * route hints turned into meshctl commands. An issue the message already
 * states (the admin API's validation message lists each one as `path
 * problem`) only gets its fix added there: said twice, a long list of
 * allowed values read as two lists.
 */
export function describeApiError(e: ApiErrorBody): string {
  let text = e.message ?? 'no message';
  if (e.field && !text.includes(e.field)) text += ` (field ${e.field})`;
  const rest: string[] = [];
  for (const i of e.issues ?? []) {
    const fix = i.fix ? ` (${i.fix})` : '';
    const stated = `${i.path || '(root)'} ${i.problem ?? 'invalid'}`;
    if (i.problem && text.includes(stated)) text = text.replace(stated, `${stated}${fix}`);
    else rest.push(`${i.path || '(root)'}: ${i.problem ?? 'invalid'}${fix}`);
  }
  if (rest.length > 0) text += `: ${rest.join('; ')}`;
  return meshctlHints(text);
}

function tokenHelp(conn: Connection): string {
  return `--token, MESHCTL_TOKEN or token: in ${conn.configFile}`;
}

/** The one-line error for an answer with a status of 400 or more. */
export function errorFromAnswer(a: FailedAnswer, conn: Connection): CliError {
  const e = parseApiError(a.body);
  const server = displayUrl(conn.server);
  const tag = `${a.status}${e?.code ? ` ${e.code}` : ''}`;
  const opts = { status: a.status, ...(e?.code ? { apiCode: e.code } : {}) };
  if (a.status === 401) {
    const msg = conn.token
      ? `the control plane at ${server} refused the token from ${conn.tokenSource} (${tag}); use its auth.adminToken (or a read-only token for get) with ${tokenHelp(conn)}`
      : `the control plane at ${server} needs a token (${tag}); pass its auth.adminToken (or a read-only token for get) with ${tokenHelp(conn)}`;
    return new CliError(CliErrorCodes.AUTH, msg, opts);
  }
  if (a.status === 403) {
    return new CliError(
      CliErrorCodes.AUTH,
      `the token from ${conn.tokenSource ?? 'nowhere'} may not ${a.method} ${a.path} (${tag}${e?.message ? `: ${e.message}` : ''}); a read-only token can only read, use an admin token with ${tokenHelp(conn)}`,
      opts,
    );
  }
  if (a.status === 429 && e?.code === AdminApiErrorCodes.TOO_MANY_AUTH_FAILURES) {
    const wait = a.retryAfter ? `wait ${a.retryAfter} s` : 'wait';
    return new CliError(
      CliErrorCodes.AUTH,
      `too many requests with a wrong token came from this address (${tag}); ${wait}, and check the token from ${conn.tokenSource ?? 'nowhere'}`,
      opts,
    );
  }
  const context = a.context ?? `${a.method} ${a.path}`;
  // fastify's own 404 for a route it does not have: an older control plane, or not a control plane at all.
  if (a.status === 404 && e?.message?.startsWith('Route ') && !e.code) {
    return new CliError(
      CliErrorCodes.API,
      `${context}: the server at ${server} has no ${a.method} ${a.path.split('?')[0]}; is it a meshlet control plane as new as this meshctl?`,
      opts,
    );
  }
  // A follower that names no leader: no replica leads (etcd quorum lost, or an election under way).
  if (e?.code === AdminApiErrorCodes.NOT_LEADER && !e.leader) {
    return new CliError(
      CliErrorCodes.API,
      `${context}: the control plane at ${server} follows and no replica leads right now (etcd quorum lost?); try again shortly, and see meshctl get cluster (${tag})`,
      opts,
    );
  }
  if (e) {
    const retry = a.status === 429 && a.retryAfter ? `; retry after ${a.retryAfter} s` : '';
    return new CliError(CliErrorCodes.API, `${context}: ${describeApiError(e)} (${tag})${retry}`, opts);
  }
  const snippet = sanitize(a.body).trim().slice(0, 200);
  return new CliError(
    CliErrorCodes.API,
    `${context}: the server at ${server} answered ${a.status}${snippet ? `: ${snippet}` : ' with no body'}`,
    opts,
  );
}

const TLS_TRUST = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

function errorCode(e: unknown): string | undefined {
  const err = e as { code?: unknown; cause?: unknown; errors?: unknown[] };
  if (typeof err?.code === 'string') return err.code;
  // Happy eyeballs: every address failed, each with its own error.
  if (Array.isArray(err?.errors) && err.errors.length > 0) return errorCode(err.errors[0]);
  if (err?.cause) return errorCode(err.cause);
  return undefined;
}

/** The one-line error for a request that got no answer: what failed, and which setting points at the server. */
export function errorFromNetwork(e: unknown, conn: Connection, timeoutMs: number): CliError {
  const code = errorCode(e);
  const server = displayUrl(conn.server);
  const where = `--server URL, MESHCTL_SERVER or server: in ${conn.configFile} (now from ${conn.serverSource})`;
  let detail: string;
  let hint = `is it running there? Point meshctl at it with ${where}`;
  switch (code) {
    case 'ECONNREFUSED':
      detail = 'connection refused';
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      detail = `unknown host ${new URL(conn.server).hostname}`;
      hint = `check the address: ${where}`;
      break;
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      detail = `cannot connect (${code})`;
      break;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      detail = `no answer within ${Math.round(timeoutMs / 1000)} s`;
      hint = 'the control plane may be overloaded; try again';
      break;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
    case 'EPIPE':
      detail = 'the connection was closed before an answer came';
      hint = `is ${server} a meshlet control plane (http or https as it listens)? See ${where}`;
      break;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      detail = 'the TLS handshake failed';
      hint = `does it listen on http:// rather than https://? See ${where}`;
      break;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      detail = 'its certificate does not name this host';
      hint = `use the host name in the certificate in ${where}`;
      break;
    case 'CERT_HAS_EXPIRED':
      detail = 'its certificate has expired';
      hint = 'renew the control plane certificate';
      break;
    default:
      if (code && TLS_TRUST.has(code)) {
        detail = `its certificate is not trusted (${code})`;
        hint = `pass the CA that signed it with --ca-file, MESHCTL_CA_FILE or caFile: in ${conn.configFile}`;
      } else {
        detail = `${sanitize((e as Error)?.message ?? String(e))}${code ? ` (${code})` : ''}`;
      }
  }
  return new CliError(CliErrorCodes.UNREACHABLE, `cannot reach the control plane at ${server}: ${detail}; ${hint}`, {
    cause: e,
  });
}
