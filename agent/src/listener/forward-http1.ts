import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint, Logger } from '@meshlet/shared';
import type { PickContext } from '../balancer/balancer.js';
import {
  type AttemptOutcome,
  decideRetry,
  isIdempotent,
  type RetryDecision,
  retryDelay,
} from '../resilience/retry-policy.js';
import { requestHash } from '../route/request-hash.js';
import { attemptSelection } from '../sharding/range-follow.js';
import type { Destination, Refusal } from '../route/destination.js';
import type { ForwardState } from './access-line.js';
import { answerExhausted } from './answer-exhausted.js';
import { type AttemptContext, attemptEndpoint } from './attempt-endpoint.js';
import { rawUpstreamHeaders } from './hop-headers.js';
import { NO_BODY, readBody } from './request-body.js';
import type { RequestTarget } from './request-target.js';
import { settleFailedAttempt } from './settle-failed-attempt.js';
import { sendJsonError } from './json-error.js';
import { addTraceContextRaw } from './trace-context.js';
import { waitWhileConnected } from './wait-while-connected.js';

/** What {@link forwardHttp1} needs from its listener. */
export interface Http1ForwardContext extends AttemptContext {
  random: () => number;
  log: Logger;
}

/**
 * Sends an HTTP/1.1 request to one endpoint after another through the
 * pools, asking the retry policy ({@link decideRetry}) after every attempt
 * that did not end the request; every retry goes to an endpoint not yet
 * tried for it (spilling to the next tier when a tier is used up). The
 * body is buffered up to `retries.maxBufferBytes` so that it can be sent
 * again.
 */
export async function forwardHttp1(
  o: Http1ForwardContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
  d: Destination,
  state: ForwardState,
): Promise<void> {
  const { svc, dest, retries, timeouts } = d;
  let lb = d.lb;
  const headers = rawUpstreamHeaders(req, target.service);
  const ids = addTraceContextRaw(headers);
  state.traceId = ids.traceId;
  state.requestId = ids.requestId;
  const body = headers.hasBody ? await readBody(req, retries.maxBufferBytes) : NO_BODY;
  // May go again to another endpoint if its own is declared gone while it waits: an idempotent request only
  // (its first copy may still be running; nonIdempotent opts in to retries after a reset, not to certain duplicates).
  const resendable = body.replayable && isIdempotent(req.method);
  const lost = o.inFlight?.lost;
  const tried = new Set<string>();
  const hashKey = dest.policy.balancer.hashKey;
  const pick: PickContext = { exclude: tried, hash: hashKey ? requestHash(req, target.path, hashKey) : undefined };
  const failures: string[] = [];
  let budgetExhausted = false;
  svc.budget.onRequest();
  // The endpoint of the next attempt, picked when the policy asks whether there is one.
  let next: Endpoint | undefined;
  const question = {
    method: req.method ?? 'GET',
    replayable: body.replayable,
    settings: retries,
    anotherEndpoint: () => {
      // Endpoints declared gone since this request's selection was taken are not in it as such: skipped, unless
      // nothing else is left (panic mode serves every endpoint, and a retry must still move off a dead one).
      next =
        lost && lost.size > 0
          ? (lb.pick({ ...pick, exclude: new Set([...tried, ...lost]) }) ?? lb.pick(pick))
          : lb.pick(pick);
      return next !== undefined;
    },
    budget: () => {
      if (svc.budget.tryAcquire()) return true;
      budgetExhausted = true;
      svc.metrics.budgetExhausted();
      return false;
    },
  };
  const ask = (attempt: number, outcome: AttemptOutcome): RetryDecision =>
    decideRetry({ ...question, attempt, outcome });
  const request = {
    method: question.method as 'GET',
    path: target.path,
    headers,
    body: body.body,
    headersTimeout: timeouts.requestMs,
    bodyTimeout: timeouts.requestMs,
  };

  // Whether an attempt on `current`, given up now, could be retried: budget and another endpoint left.
  const canResend = (current: Endpoint | undefined): boolean => {
    if (!svc.budget.canAcquire()) return false;
    const exclude = new Set([...tried, ...(lost ?? []), ...(current ? [current.id] : [])]);
    return lb.pick({ ...pick, exclude }) !== undefined;
  };
  // A range's owner may have changed while the request waited (breaker queue, fault delay, its body): see RangeFollow.
  const refuse = (r: Refusal) => sendJsonError(res, r.refusal, r.extra);
  const first = attemptSelection(d.range, lb, refuse);
  if (first === undefined) return;
  lb = first;
  let endpoint = lb.pick(pick);
  for (let attempt = 0; endpoint !== undefined; attempt++) {
    if (attempt > 0) {
      svc.metrics.retry();
      state.retries++;
    }
    state.endpoint = endpoint.id;
    tried.add(endpoint.id);
    let decision: RetryDecision | undefined;
    // Before anything reaches the client: an answer the policy retries is declined.
    const accept = (status: number, peerError: string | undefined) =>
      !(decision = ask(attempt, { kind: 'status', status, peerError })).retry;
    const { outcome, answeredMs } = await attemptEndpoint(
      o,
      endpoint,
      request,
      res,
      timeouts,
      accept,
      dest.name,
      resendable && attempt < retries.maxRetries ? () => canResend(endpoint) : undefined,
    );
    if (outcome.kind !== 'failed') {
      dest.metrics.attempt(endpoint.id, outcome.status);
      dest.outcome(endpoint.id, outcome.status >= 500, answeredMs);
      if (outcome.kind === 'relayed') return;
      failures.push(`${endpoint.id}: answered ${outcome.status}${outcome.peerError ? ` ${outcome.peerError}` : ''}`);
    } else {
      const kind = settleFailedAttempt(outcome, endpoint, d, res);
      if (kind === undefined) return;
      failures.push(`${endpoint.id}: ${outcome.error.message}`);
      if (o.log.isLevelEnabled('debug'))
        o.log.debug(
          { service: dest.name, endpoint: endpoint.id, err: outcome.error.message, kind, attempt },
          'outbound attempt failed',
        );
      decision = ask(attempt, { kind: 'error', error: kind });
    }
    if (!decision?.retry) break;
    if (!(await waitWhileConnected(retryDelay(attempt, retries, o.random), res))) return;
    const now = attemptSelection(d.range, lb, refuse);
    if (now === undefined) return;
    // A new owner since the retry was granted: its endpoints, none of which was tried.
    endpoint = now === lb ? next : now.pick(pick);
    lb = now;
  }
  answerExhausted(res, d, failures, budgetExhausted);
}
