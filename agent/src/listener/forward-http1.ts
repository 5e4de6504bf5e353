import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Endpoint, Logger } from '@meshlet/shared';
import type { Dispatcher } from 'undici';
import type { PickContext } from '../balancer/balancer.js';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import {
  type AttemptOutcome,
  decideRetry,
  isIdempotent,
  type RetryDecision,
  type RetryQuestion,
  type RetrySettings,
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

/** The outcome of a question not asked yet (never read: `ask` sets one first). */
const NO_OUTCOME_YET: AttemptOutcome = Object.freeze({ kind: 'status', status: 0 });

/**
 * The retry question of one request ({@link RetryQuestion}), asked after
 * each of its attempts: one object per request, whose `attempt` and
 * `outcome` are set before each asking, rather than a spread copy and a
 * closure per attempt (the policy is asked about every answer before it is
 * relayed, so this is on every request's path). It also holds what the
 * request's retries pick from.
 */
class Http1Retries implements RetryQuestion {
  attempt = 0;
  outcome: AttemptOutcome = NO_OUTCOME_YET;
  readonly method: string;
  readonly replayable: boolean;
  readonly settings: RetrySettings;
  /** The selection the next attempt picks from (a range's owner may change it between attempts). */
  lb: EndpointSelection;
  /** The endpoint of the next attempt, picked when the policy asks whether there is one. */
  next: Endpoint | undefined;
  /** The endpoint of the attempt in flight. */
  current: Endpoint | undefined;
  budgetExhausted = false;
  /** The decision on the attempt's answer or failure; undefined before one is taken. */
  decision: RetryDecision | undefined;
  readonly tried = new Set<string>();
  readonly pick: PickContext;
  readonly #d: Destination;
  readonly #lost: ReadonlySet<string> | undefined;

  constructor(
    method: string,
    replayable: boolean,
    d: Destination,
    hash: number | undefined,
    lost: ReadonlySet<string> | undefined,
  ) {
    this.method = method;
    this.replayable = replayable;
    this.settings = d.retries;
    this.lb = d.lb;
    this.#d = d;
    this.#lost = lost;
    this.pick = { exclude: this.tried, hash };
  }

  anotherEndpoint(): boolean {
    // Endpoints declared gone since this request's selection was taken are not in it as such: skipped, unless
    // nothing else is left (panic mode serves every endpoint, and a retry must still move off a dead one).
    const lost = this.#lost;
    this.next =
      lost && lost.size > 0
        ? (this.lb.pick({ ...this.pick, exclude: new Set([...this.tried, ...lost]) }) ?? this.lb.pick(this.pick))
        : this.lb.pick(this.pick);
    return this.next !== undefined;
  }

  budget(): boolean {
    const svc = this.#d.svc;
    if (svc.budget.tryAcquire()) return true;
    this.budgetExhausted = true;
    svc.metrics.budgetExhausted();
    return false;
  }

  /** The retry decision on attempt `attempt`, ended with `outcome`. */
  ask(attempt: number, outcome: AttemptOutcome): RetryDecision {
    this.attempt = attempt;
    this.outcome = outcome;
    return (this.decision = decideRetry(this));
  }

  /** Whether the last decision taken was to retry. */
  retrying(): boolean {
    return this.decision !== undefined && this.decision.retry;
  }

  /** The relay's `accept`, before anything reaches the client: an answer the policy retries is declined. */
  readonly accept = (status: number, peerError: string | undefined): boolean =>
    !this.ask(this.attempt, { kind: 'status', status, peerError }).retry;

  /** Whether the attempt in flight, given up now, could be retried: budget and another endpoint left. */
  readonly canResend = (): boolean => {
    if (!this.#d.svc.budget.canAcquire()) return false;
    const current = this.current;
    const exclude = new Set([...this.tried, ...(this.#lost ?? []), ...(current ? [current.id] : [])]);
    return this.lb.pick({ ...this.pick, exclude }) !== undefined;
  };
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
  const headers = rawUpstreamHeaders(req, target.service);
  const ids = addTraceContextRaw(headers);
  state.traceId = ids.traceId;
  state.requestId = ids.requestId;
  const body = headers.hasBody ? await readBody(req, retries.maxBufferBytes) : NO_BODY;
  const method = req.method ?? 'GET';
  // May go again to another endpoint if its own is declared gone while it waits: an idempotent request only
  // (its first copy may still be running; nonIdempotent opts in to retries after a reset, not to certain duplicates).
  const resendable = body.replayable && isIdempotent(req.method);
  const hashKey = dest.policy.balancer.hashKey;
  const r = new Http1Retries(
    method,
    body.replayable,
    d,
    hashKey ? requestHash(req, target.path, hashKey) : undefined,
    o.inFlight?.lost,
  );
  svc.budget.onRequest();
  const request: Dispatcher.DispatchOptions = {
    method: method as 'GET',
    path: target.path,
    headers,
    body: body.body,
    headersTimeout: timeouts.requestMs,
    bodyTimeout: timeouts.requestMs,
  };
  // A range's owner may have changed while the request waited (breaker queue, fault delay, its body): see RangeFollow.
  const refuse = d.range === undefined ? noRefusal : (x: Refusal) => sendJsonError(res, x.refusal, x.extra);
  const first = attemptSelection(d.range, r.lb, refuse);
  if (first === undefined) return;
  r.lb = first;
  let endpoint = first.pick(r.pick);
  let failures: string[] | undefined;
  for (let attempt = 0; endpoint !== undefined; attempt++) {
    if (attempt > 0) {
      svc.metrics.retry();
      state.retries++;
    }
    state.endpoint = endpoint.id;
    r.tried.add(endpoint.id);
    r.current = endpoint;
    r.attempt = attempt;
    r.decision = undefined;
    const { outcome, answeredMs } = await attemptEndpoint(
      o,
      endpoint,
      request,
      res,
      timeouts,
      r.accept,
      dest.name,
      resendable && attempt < retries.maxRetries ? r.canResend : undefined,
    );
    if (outcome.kind !== 'failed') {
      dest.metrics.attempt(endpoint.id, outcome.status);
      dest.outcome(endpoint.id, outcome.status >= 500, answeredMs);
      if (outcome.kind === 'relayed') return;
      (failures ??= []).push(
        `${endpoint.id}: answered ${outcome.status}${outcome.peerError ? ` ${outcome.peerError}` : ''}`,
      );
    } else {
      const kind = settleFailedAttempt(outcome, endpoint, d, res);
      if (kind === undefined) return;
      (failures ??= []).push(`${endpoint.id}: ${outcome.error.message}`);
      if (o.log.isLevelEnabled('debug'))
        o.log.debug(
          { service: dest.name, endpoint: endpoint.id, err: outcome.error.message, kind, attempt },
          'outbound attempt failed',
        );
      r.ask(attempt, { kind: 'error', error: kind });
    }
    if (!r.retrying()) break;
    if (!(await waitWhileConnected(retryDelay(attempt, retries, o.random), res))) return;
    const now = attemptSelection(d.range, r.lb, refuse);
    if (now === undefined) return;
    // A new owner since the retry was granted: its endpoints, none of which was tried.
    endpoint = now === r.lb ? r.next : now.pick(r.pick);
    r.lb = now;
  }
  answerExhausted(res, d, failures ?? [], r.budgetExhausted);
}

/** The refusal callback of a destination that is not range-sharded: never called (nothing to follow). */
function noRefusal(): void {}
