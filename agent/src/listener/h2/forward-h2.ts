import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type Http2ServerRequest, type Http2ServerResponse, type OutgoingHttpHeaders } from 'node:http2';
import { type Endpoint, GRPC_CODES, type GrpcCodeName, type Logger } from '@meshlet/shared';
import type { PickContext } from '../../balancer/balancer.js';
import { AgentErrors, ERROR_HEADER } from '../../errors.js';
import { failureKind } from '../../resilience/failure-kind.js';
import { type AttemptOutcome, decideRetry, type RetryDecision, retryDelay } from '../../resilience/retry-policy.js';
import type { Destination, Refusal } from '../../route/destination.js';
import { requestHash } from '../../route/request-hash.js';
import { attemptSelection } from '../../sharding/range-follow.js';
import type { ForwardState } from '../access-line.js';
import { answerExhausted } from '../answer-exhausted.js';
import { sendJsonError } from '../json-error.js';
import type { RequestTarget } from '../request-target.js';
import { settleFailedAttempt } from '../settle-failed-attempt.js';
import { addTraceContextRaw } from '../trace-context.js';
import { waitWhileConnected } from '../wait-while-connected.js';
import { attemptH2, type H2AttemptContext } from './attempt-h2.js';
import { recordGrpcCall } from './grpc-metrics.js';
import { grpcDeadline, grpcTimeoutHeader } from './grpc-timeout.js';
import { requestHeadersH2, traceHeadersH2 } from './h2-headers.js';
import { isGrpcRequest } from './h2-server-settings.js';
import { H2_UNSUPPORTED_CODE } from './h2-sessions.js';
import { CALL_DEADLINE_CODE } from './relay-h2.js';
import { ReplayableBody } from './replayable-body.js';

/** What {@link forwardH2} needs from its listener. */
export interface H2ForwardContext extends H2AttemptContext {
  random: () => number;
  log: Logger;
  /** Counts gRPC calls by code; absent: not counted. */
  grpcCalls?: { labels(service: string, code: string): { inc(): void } } | undefined;
}

export type { Http1Fallback } from './attempt-h2.js';

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
 * bounds the whole call (the client's deadline, never held against an
 * endpoint) and goes on reduced by the time already spent. Each gRPC call
 * is counted once, by the code it ended with.
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
  const grpc = isGrpcRequest(req);
  const deadline = grpc ? grpcDeadline(req.headers['grpc-timeout'], performance.now()) : undefined;
  // Only a call with a deadline can expire: no controller (and no listener on its signal) for any other request.
  const expired = deadline === undefined ? undefined : new AbortController();
  const timer =
    expired === undefined
      ? undefined
      : setTimeout(() => expired.abort(), Math.max(0, (deadline as number) - performance.now()));
  let code: number | undefined;
  try {
    code = await attempts(ctx, req, response, target, d, state, grpc, deadline, expired?.signal);
  } finally {
    clearTimeout(timer);
    if (grpc) recordGrpcCall(ctx.grpcCalls, d.dest.name, code);
  }
}

/** The attempts of one request, in turn; resolves with the gRPC code the call ended with, if known. */
async function attempts(
  ctx: H2ForwardContext,
  req: Http2ServerRequest,
  response: ServerResponse,
  target: RequestTarget,
  d: Destination,
  state: ForwardState,
  grpc: boolean,
  deadline: number | undefined,
  expired: AbortSignal | undefined,
): Promise<number | undefined> {
  const res = response as unknown as Http2ServerResponse;
  const { svc, dest, retries, timeouts } = d;
  let lb = d.lb;
  const retryOn = codes(dest.policy.grpc?.retryOn, ['unavailable']);
  const failureCodes = codes(dest.policy.grpc?.failureCodes, ['unavailable', 'internal', 'deadline-exceeded']);
  const headers = requestHeadersH2(req.headers, { method: req.method, path: target.path, authority: target.service });
  const ids = traceHeadersH2(headers, addTraceContextRaw);
  state.traceId = ids.traceId;
  state.requestId = ids.requestId;
  const body = new ReplayableBody(req, retries.maxBufferBytes, req.stream.endAfterHeaders);
  const tried = new Set<string>();
  const hashKey = dest.policy.balancer.hashKey;
  const pick: PickContext = {
    exclude: tried,
    hash: hashKey ? requestHash(req as unknown as IncomingMessage, target.path, hashKey) : undefined,
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
  const deadlinePassed = (): number => {
    if (res.stream.headersSent) res.stream.close(constants.NGHTTP2_CANCEL);
    else sendJsonError(response, AgentErrors.UPSTREAM_TIMEOUT(`the call's grpc-timeout passed before it ended`));
    return GRPC_CODES['deadline-exceeded'];
  };

  // A range's owner may have changed since the request was routed (a newer table): see RangeFollow.
  const refuse = (r: Refusal) => sendJsonError(response, r.refusal, r.extra);
  const first = attemptSelection(d.range, lb, refuse);
  if (first === undefined) return GRPC_CODES.unavailable;
  lb = first;
  let endpoint = lb.pick(pick);
  for (let attempt = 0; endpoint !== undefined; attempt++) {
    if (attempt > 0) {
      svc.metrics.retry();
      state.retries++;
    }
    state.endpoint = endpoint.id;
    tried.add(endpoint.id);
    const left = deadline === undefined ? undefined : deadline - performance.now();
    if (expired?.aborted || (left !== undefined && left <= 0)) return deadlinePassed();
    const attemptHeaders: OutgoingHttpHeaders =
      left === undefined ? headers : { ...headers, 'grpc-timeout': grpcTimeoutHeader(left) };
    let decision: RetryDecision | undefined;
    const { outcome, answeredMs } = await attemptH2(ctx, endpoint, dest.name, timeouts, attemptHeaders, body, res, {
      grpc,
      signal: expired,
      headersTimeoutMs: timeouts.requestMs,
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
      if (outcome.kind === 'relayed') {
        res.statusCode = outcome.status;
        return outcome.grpcStatus;
      }
      // Declined: only ever for a retry the policy granted (an endpoint and a budget token are held for it).
      failures.push(`${endpoint.id}: answered ${outcome.grpcStatus ?? outcome.status}`);
    } else if ((outcome.error as { code?: string }).code === CALL_DEADLINE_CODE) {
      // The client's deadline, not the endpoint's fault: nothing is counted against it.
      return deadlinePassed();
    } else if ((outcome.error as { code?: string }).code === H2_UNSUPPORTED_CODE) {
      // An agent that speaks HTTP/1.1 only, for a gRPC call (or a body too large to buffer for it): nothing was sent,
      // and the endpoint is not to blame; another one is tried.
      failures.push(`${endpoint.id}: ${outcome.error.message}`);
      decision = ask(attempt, { kind: 'error', error: 'connect' });
    } else if (outcome.headersSent) {
      // The answer had begun: the client's stream was reset as the endpoint's was (or the client left); no retry.
      if (failureKind(outcome.error) !== 'aborted') {
        dest.metrics.attempt(endpoint.id, -1);
        dest.outcome(endpoint.id, true);
      }
      return endedWith(outcome);
    } else {
      const kind = settleFailedAttempt(outcome, endpoint, d, response);
      if (kind === undefined) return endedWith(outcome);
      failures.push(`${endpoint.id}: ${outcome.error.message}`);
      decision = ask(attempt, { kind: 'error', error: kind });
    }
    if (!decision?.retry) break;
    if (!(await waitWhileConnected(retryDelay(attempt, retries, ctx.random), response))) return GRPC_CODES.cancelled;
    const now = attemptSelection(d.range, lb, refuse);
    if (now === undefined) return GRPC_CODES.unavailable;
    // A new owner since the retry was granted: its endpoints, none of which was tried.
    endpoint = now === lb ? next : now.pick(pick);
    lb = now;
  }
  answerExhausted(response, d, failures, budgetExhausted);
  return GRPC_CODES.unavailable;
}

/** The gRPC code a call ends with when its attempt failed and ended it (see `settleFailedAttempt`). */
function endedWith(outcome: { error: Error; headersSent: boolean }): number | undefined {
  if (outcome.headersSent) return undefined;
  switch (failureKind(outcome.error)) {
    case 'aborted':
      return GRPC_CODES.cancelled;
    case 'timeout':
      return GRPC_CODES['deadline-exceeded'];
    default:
      return GRPC_CODES.unavailable;
  }
}
