import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** Hop-by-hop headers (RFC 9110 7.6.1) that a proxy must not forward. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/** Request headers to send upstream: hop-by-hop ones (and any named in `Connection`) dropped, `host` replaced if given. */
export function upstreamHeaders(headers: IncomingHttpHeaders, host?: string): Record<string, string | string[]> {
  const named = headers.connection ? headers.connection.toLowerCase().split(',').map((s) => s.trim()) : [];
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.includes(k)) continue;
    out[k] = v;
  }
  if (host !== undefined) out.host = host;
  return out;
}

/**
 * Response headers to send back: hop-by-hop ones dropped. With `fromApp`,
 * `x-meshlet-error` is dropped too: only an agent may say that, because a
 * caller retries on it.
 */
export function downstreamHeaders(headers: Dispatcher.ResponseData['headers'], fromApp = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || (fromApp && k === 'x-meshlet-error')) continue;
    out[k] = v;
  }
  return out;
}

/** True when the request carries a body (so it cannot be replayed without buffering). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** RFC 9110 idempotent methods. */
export function isIdempotent(method: string | undefined): boolean {
  return method !== undefined && IDEMPOTENT.has(method);
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** How an attempt failed, for the retry decision. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'aborted' | 'other';

/** Classifies an error thrown by undici. */
export function failureKind(err: unknown): FailureKind {
  const e = err as { code?: string; name?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (RESET_CODES.has(code)) return 'reset';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (e.name === 'AbortError' || code === 'UND_ERR_ABORTED') return 'aborted';
  return 'other';
}

/**
 * Streams an upstream answer to the client; resolves when the answer is
 * complete or either side went away. Plain `pipe` rather than
 * `stream.pipeline`: pipeline builds and aborts an AbortController per call,
 * which showed up as the largest JavaScript cost per request in the
 * proxy-overhead benchmark.
 */
export function relay(upstream: Dispatcher.ResponseData, res: ServerResponse, fromApp = false): Promise<void> {
  const headers = downstreamHeaders(upstream.headers, fromApp);
  res.writeHead(upstream.statusCode, headers);
  const body = upstream.body;
  return new Promise((resolve) => {
    body.once('error', () => {
      res.destroy();
      resolve();
    });
    res.once('finish', resolve);
    res.once('close', () => {
      if (!res.writableFinished) body.destroy();
      resolve();
    });
    body.pipe(res);
  });
}

/**
 * Fires `abort` when the client goes away before its answer is complete.
 * undici accepts an EventEmitter as a signal; this one costs far less per
 * request than an AbortController.
 */
export class ClientGone extends EventEmitter {
  aborted = false;
  reason: Error | undefined;

  constructor(res: ServerResponse) {
    super();
    res.once('close', () => {
      if (res.writableFinished) return;
      this.aborted = true;
      this.reason = Object.assign(new Error('the client went away'), { name: 'AbortError' });
      this.emit('abort');
    });
  }
}
