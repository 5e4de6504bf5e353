import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestTarget } from './request-target.js';
import { incomingTraceIds } from './trace-context.js';

/**
 * What the access log says of one request. Only ids, never header values
 * (they carry credentials), and the path without its query string (which
 * can carry them too).
 */
export interface AccessLine {
  /** From the request's `traceparent` (or the one the agent started). */
  traceId: string | undefined;
  /** The request's `x-request-id` (or the one the agent made), at most 128 characters. */
  requestId: string | undefined;
  /** The service the request named; absent when it named none. */
  service: string | undefined;
  /** The endpoint of the last attempt; absent when none was made. */
  endpoint: string | undefined;
  /** The status the client got; 499 when it left before any. */
  status: number;
  durationMs: number;
  retries: number;
  method: string;
  path: string;
}

/** Longest request id logged: the client chose it, and a log line is no place for a megabyte. */
const MAX_REQUEST_ID = 128;
/** Status logged for a client that left before an answer (nginx's convention). */
const CLIENT_CLOSED = 499;

/** What the outbound path learns of a request as it goes, for its access log line. */
export interface ForwardState {
  traceId: string | undefined;
  requestId: string | undefined;
  endpoint: string | undefined;
  retries: number;
}

/** The access log line of a request that ended. */
export function accessLine(
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget | undefined,
  state: ForwardState,
  durationMs: number,
): AccessLine {
  // Without a parsed target, only the part of the raw URL from its path on: an
  // absolute URL that did not parse may carry user:password@ before it.
  const raw = req.url ?? '';
  const path = target?.path ?? (raw.startsWith('/') ? raw : '-');
  const query = path.indexOf('?');
  // Refused before forwarding: the ids the request came with, if any.
  const ids = state.traceId === undefined ? incomingTraceIds(req) : state;
  const requestId = ids.requestId;
  return {
    traceId: ids.traceId,
    requestId:
      requestId !== undefined && requestId.length > MAX_REQUEST_ID ? requestId.slice(0, MAX_REQUEST_ID) : requestId,
    service: target?.service,
    endpoint: state.endpoint,
    status: res.headersSent ? res.statusCode : CLIENT_CLOSED,
    durationMs: Math.round(durationMs * 1000) / 1000,
    retries: state.retries,
    method: req.method ?? 'GET',
    path: query === -1 ? path : path.slice(0, query),
  };
}
