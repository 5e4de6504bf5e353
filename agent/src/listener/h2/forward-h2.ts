import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import { type Endpoint, GRPC_CODES, type GrpcCodeName, type Logger, type TimeoutPolicy } from '@meshlet/shared';
import type { PickContext } from '../../balancer/balancer.js';
import type { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { AgentErrors, ERROR_HEADER } from '../../errors.js';
import { failureKind } from '../../resilience/failure-kind.js';
import { type AttemptOutcome, decideRetry, type RetryDecision, retryDelay } from '../../resilience/retry-policy.js';
import type { Destination } from '../../route/destination.js';
import { requestHash } from '../../route/request-hash.js';
import type { ForwardState } from '../access-line.js';
import { sendJsonError } from '../json-error.js';
import { answerExhausted } from '../answer-exhausted.js';
import type { RequestTarget } from '../request-target.js';
import { settleFailedAttempt } from '../settle-failed-attempt.js';
import { addTraceContextRaw } from '../trace-context.js';
import { waitWhileConnected } from '../wait-while-connected.js';
import { grpcDeadline, grpcTimeoutHeader } from './grpc-timeout.js';
import { requestHeadersH2, traceHeadersH2 } from './h2-headers.js';
import { isGrpcRequest } from './h2-server-settings.js';
import type { H2Sessions } from './h2-sessions.js';
import { type H2Outcome, relayH2 } from './relay-h2.js';
import { ReplayableBody } from './replayable-body.js';
import { recordGrpcCall } from './grpc-metrics.js';
import type { RelayOutcome } from '../relay-handler.js';
import { H2_UNSUPPORTED_CODE } from './h2-sessions.js';

/** What {@link forwardH2} needs from its listener. */
export interface H2ForwardContext {
  sessions: H2Sessions;
  stats: EndpointStatsMap;
  clock: () => number;
  random: () => number;
  log: Logger;
  /** Counts gRPC calls by code; absent: not counted. */
  grpcCalls?: { labels(service: string, code: string): { inc(): void } } | undefined;
  /** How a request goes to an endpoint whose agent speaks HTTP/1.1 only (see {@link Http1Fallback}); absent: it fails. */
  http1?: Http1Fallback | undefined;
}

/**
 * Sends an HTTP/2 request, its body buffered whole, to an endpoint whose
 * agent chose HTTP/1.1 in ALPN (an agent of an older version), through the
 * HTTP/1.1 pools; `accept` as in `dispatchRelay`.
 */
export type Http1Fallback = (
  endpoint: Endpoint,
  service: string,
  request: { method: string; path: string; headers: string[]; body: Buffer },
  timeouts: TimeoutPolicy,
  res: ServerResponse,
  accept: (status: number, peerError: string | undefined) => boolean,
) => Promise<{ outcome: RelayOutcome; answeredMs: number }>;

const codes = (names: readonly GrpcCodeName[] | undefined, fallback: readonly GrpcCodeName[]): number[] =>
  (names ?? fallback).map((n) => GRPC_CODES[n]);

/**
 * Forwards one HTTP/2 request (a gRPC call, or any h2c request) to an
 * endpoint of its destination over one shared HTTP/2 session per endpoint
 * (see `H2Sessions`): the balancer picks an endpoint for every request, so
 * the calls of one long-lived client channel spread over every instance.
 * The body flows at once and is kept up to `retries.maxBufferBytes`; an
 * attempt that fails before any answer, or that is answered trailers-only
 * with a code in `grpc.retryOn` (UNAVAILABLE by default), is retried on
 * another endpoint within `retries.maxRetries` and the retry budget (see
 * `decideRetry`). A gRPC answer's status counts for outlier detection and
 * the callers' reports (`grpc.failureCodes`), as a 5xx does. `grpc-timeout`
 * bounds the whole call and goes on reduced by the time already spent.
 */
export async function forwardH2(
  ctx: H2ForwardContext,
  incoming: IncomingMessage,
  response: ServerResponse,
  target: RequestTarget,
  d: Destination,
  state: ForwardState,
): Promise<void> {
  const req = incoming as unknown as Http2ServerRequest;
  const res = response as unknown as Http2ServerResponse;
  const { svc, dest, lb, retries, timeouts } = d;
  const grpc = isGrpcRequest(req);
  const retryOn = codes(dest.policy.grpc?.retryOn, ['unavailable']);
  const failureCodes = codes(dest.policy.grpc?.failureCodes, ['unavailable', 'internal', 'deadline-exceeded']);
  const headers = requestHeadersH2(req.headers, { method: req.method, path: target.path, authority: target.service });
  const ids = traceHeadersH2(headers, addTraceContextRaw);
  state.traceId = ids.traceId;
  state.requestId = ids.requestId;
  const deadline = grpc ? grpcDeadline(req.headers['grpc-timeout'], performance.now()) : undefined;
  const body = new ReplayableBody(req, retries.maxBufferBytes);
  const tried = new Set<string>();
  const hashKey = dest.policy.balancer.hashKey;
  const pick: PickContext = {
    exclude: tried,
    hash: hashKey ? requestHash(incoming, target.path, hashKey) : undefined,
  };
  const failures: string[] = [];
  let budgetExhausted = false;
  svc.budget.onRequest();
  let next: Endpoint | undefined;
  const ask = (attempt: number, outcome: AttemptOutcome): RetryDecision =>
    decideRetry({
      attempt,
      method: req.method,
      replayable: body.replayable,
      settings: retries,
      outcome,
      anotherEndpoint: () => (next = lb.pick(pick)) !== undefined,
      budget: () => {
        if (svc.budget.tryAcquire()) return true;
        budgetExhausted = true;
        svc.metrics.budgetExhausted();
        return false;
      },
    });

  let endpoint = lb.pick(pick);
  for (let attempt = 0; endpoint !== undefined; attempt++) {
    if (attempt > 0) {
      svc.metrics.retry();
      state.retries++;
    }
    state.endpoint = endpoint.id;
    tried.add(endpoint.id);
    const left = deadline === undefined ? undefined : deadline - performance.now();
    if (left !== undefined && left <= 0) {
      sendJsonError(response, AgentErrors.UPSTREAM_TIMEOUT(`the call's grpc-timeout expired before an answer`));
      return;
    }
    const attemptHeaders: OutgoingHttpHeaders =
      left === undefined ? headers : { ...headers, 'grpc-timeout': grpcTimeoutHeader(left) };
    let decision: RetryDecision | undefined;
    const { outcome, answeredMs } = await attemptH2(ctx, endpoint, dest.name, timeouts, attemptHeaders, body, res, {
      grpc,
      headersTimeoutMs: Math.min(timeouts.requestMs || Infinity, left ?? Infinity),
      accept: (status, grpcStatus, trailersOnly, answer) => {
        const e = answer[ERROR_HEADER];
        const peerError = typeof e === 'string' ? e : undefined;
        if (grpc && grpcStatus !== undefined && trailersOnly && grpcStatus !== 0) {
          decision = ask(attempt, { kind: 'grpc', code: grpcStatus, retryOn, peerError });
          return !decision.retry;
        }
        if (grpc) return true;
        decision = ask(attempt, { kind: 'status', status, peerError });
        return !decision.retry;
      },
    });
    if (outcome.kind !== 'failed') {
      const failed =
        outcome.status >= 500 || (outcome.grpcStatus !== undefined && failureCodes.includes(outcome.grpcStatus));
      dest.metrics.attempt(endpoint.id, outcome.status);
      dest.outcome(endpoint.id, failed, answeredMs);
      if (grpc) recordGrpcCall(ctx.grpcCalls, dest.name, outcome.grpcStatus);
      if (outcome.kind === 'relayed') {
        res.statusCode = outcome.status;
        return;
      }
      failures.push(
        `${endpoint.id}: answered ${outcome.grpcStatus !== undefined ? `grpc-status ${outcome.grpcStatus}` : outcome.status}`,
      );
    } else {
      const kind = settleFailedAttempt(outcome, endpoint, d, response);
      if (kind === undefined) return;
      failures.push(`${endpoint.id}: ${outcome.error.message}`);
      decision = ask(attempt, { kind: 'error', error: kind });
    }
    if (!decision?.retry) {
      if (outcome.kind === 'declined') {
        // Not retried after all (the policy declined it for a retry that then found no endpoint or budget).
        relayDeclined(res, outcome);
        return;
      }
      break;
    }
    if (!(await waitWhileConnected(retryDelay(attempt, retries, ctx.random), response))) return;
    endpoint = next;
  }
  answerExhausted(response, d, failures, budgetExhausted);
}

/** An answer declined for a retry that was then not made: the client gets it as it was (headers alone). */
function relayDeclined(res: Http2ServerResponse, outcome: H2Outcome & { kind: 'declined' }): void {
  const stream = res.stream;
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  res.statusCode = outcome.status;
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(outcome.headers)) if (value !== undefined) out[name] = value;
  stream.respond(out, { endStream: true });
}

/** One attempt on `endpoint`: its session, then {@link relayH2}, with the endpoint's active count and latency kept. */
async function attemptH2(
  ctx: H2ForwardContext,
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
      // A session that could not be made never carried the request: a connect failure unless it says otherwise.
      if (failureKind(error) === 'other') error.code = error.code ?? 'ECONNREFUSED';
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
