import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import type { Endpoint, TimeoutPolicy } from '@meshlet/shared';
import type { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { ERROR_HEADER } from '../../errors.js';
import { failureKind } from '../../resilience/failure-kind.js';
import type { RelayOutcome } from '../relay-handler.js';
import { H2_UNSUPPORTED_CODE, type H2Sessions } from './h2-sessions.js';
import { type H2Outcome, relayH2 } from './relay-h2.js';
import type { ReplayableBody } from './replayable-body.js';

/** What {@link attemptH2} needs from its listener. */
export interface H2AttemptContext {
  sessions: H2Sessions;
  stats: EndpointStatsMap;
  clock: () => number;
  /** How a request goes to an endpoint whose agent speaks HTTP/1.1 only (see {@link Http1Fallback}); absent: it fails. */
  http1?: Http1Fallback | undefined;
}

/**
 * Sends an HTTP/2 request, its body buffered whole, to an endpoint whose
 * agent chose HTTP/1.1 in ALPN (an agent of an older version), through the
 * HTTP/1.1 pools; `accept` as in the HTTP/1.1 relay (`RelayOptions.accept`).
 */
export type Http1Fallback = (
  endpoint: Endpoint,
  service: string,
  request: { method: string; path: string; headers: string[]; body: Buffer },
  timeouts: TimeoutPolicy,
  res: ServerResponse,
  accept: (status: number, peerError: string | undefined) => boolean,
) => Promise<{ outcome: RelayOutcome; answeredMs: number }>;

/** One attempt on `endpoint`: its session, then {@link relayH2}, with the endpoint's active count and latency kept. */
export async function attemptH2(
  ctx: H2AttemptContext,
  endpoint: Endpoint,
  service: string,
  timeouts: TimeoutPolicy,
  headers: OutgoingHttpHeaders,
  body: ReplayableBody,
  res: Http2ServerResponse,
  options: Omit<Parameters<typeof relayH2>[4], 'trailers'> & { grpc: boolean },
): Promise<{ outcome: H2Outcome; answeredMs: number }> {
  const stats = ctx.stats.get(endpoint.id);
  stats.active++;
  const started = performance.now();
  let answeredMs = -1;
  try {
    let session;
    try {
      session = await ctx.sessions.get(endpoint, service, timeouts);
    } catch (e) {
      const error = e as Error & { code?: string };
      // gRPC needs HTTP/2 end to end (trailers, streams both ways); any other request can go over HTTP/1.1.
      if (error.code === H2_UNSUPPORTED_CODE && ctx.http1 && !options.grpc) {
        stats.active--;
        try {
          return await viaHttp1(ctx.http1, endpoint, service, headers, body, timeouts, res, options.accept);
        } finally {
          stats.active++;
        }
      }
      // A session that could not be made never carried the request: a connect failure unless it says otherwise (an
      // agent that speaks HTTP/1.1 only keeps its code: skipped for a gRPC call, not blamed).
      if (failureKind(error) === 'other' && error.code !== H2_UNSUPPORTED_CODE) error.code = 'ECONNREFUSED';
      return { outcome: { kind: 'failed', error, headersSent: false }, answeredMs };
    }
    const outcome = await relayH2(session, headers, body, res.stream, {
      ...options,
      onHeaders: () => {
        answeredMs = performance.now() - started;
        stats.observe(answeredMs, ctx.clock());
      },
      decorate: undefined,
      trailers: (t) => res.addTrailers(t),
    });
    return { outcome, answeredMs };
  } finally {
    stats.active--;
  }
}

/** One attempt through the HTTP/1.1 pools (see {@link Http1Fallback}), its outcome as an HTTP/2 attempt's. */
async function viaHttp1(
  http1: Http1Fallback,
  endpoint: Endpoint,
  service: string,
  headers: OutgoingHttpHeaders,
  body: ReplayableBody,
  timeouts: TimeoutPolicy,
  res: Http2ServerResponse,
  accept: Parameters<typeof relayH2>[4]['accept'],
): Promise<{ outcome: H2Outcome; answeredMs: number }> {
  const bytes = await body.readAll();
  if (bytes === undefined) {
    const error = Object.assign(
      new Error(`the agent of ${endpoint.id} speaks HTTP/1.1 only and the body is too large to buffer for it`),
      { code: H2_UNSUPPORTED_CODE },
    );
    return { outcome: { kind: 'failed', error, headersSent: false }, answeredMs: -1 };
  }
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 58 || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) raw.push(name, String(v));
  }
  raw.push('host', String(headers[':authority'] ?? service));
  const request = { method: String(headers[':method']), path: String(headers[':path']), headers: raw, body: bytes };
  const { outcome, answeredMs } = await http1(
    endpoint,
    service,
    request,
    timeouts,
    res as unknown as ServerResponse,
    (status, peerError) =>
      accept ? accept(status, undefined, false, peerError === undefined ? {} : { [ERROR_HEADER]: peerError }) : true,
  );
  if (outcome.kind === 'failed') return { outcome, answeredMs };
  if (outcome.kind === 'relayed')
    return { outcome: { kind: 'relayed', status: outcome.status, grpcStatus: undefined }, answeredMs };
  return {
    outcome: {
      kind: 'declined',
      status: outcome.status,
      grpcStatus: undefined,
      headers: {
        ':status': outcome.status as never,
        ...(outcome.peerError ? { [ERROR_HEADER]: outcome.peerError } : {}),
      },
    },
    answeredMs,
  };
}
