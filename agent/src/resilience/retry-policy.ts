import { backoffDelay, type RandomSource, type RetryPolicy } from '@meshlet/shared';
import { AgentErrorCodes } from '../errors.js';
import type { FailureKind } from './failure-kind.js';

/**
 * How one attempt ended, as the retry policy sees it. A union on `kind`, so
 * that another protocol's outcome (a gRPC status code, next) is one more
 * member and one more case in {@link decideRetry}.
 */
export type AttemptOutcome =
  /**
   * An answer with this HTTP status. `peerError` is the `x-meshlet-error` of
   * an answer the peer agent made itself (its app gave none); absent when
   * the app answered.
   */
  | { kind: 'status'; status: number; peerError?: string | undefined }
  /** No answer at all: how the attempt failed. */
  | { kind: 'error'; error: FailureKind }
  /**
   * A gRPC call answered with this status and nothing else (trailers-only:
   * nothing reached the client yet); `retryOn`: the codes the service's
   * `grpc.retryOn` lists; `peerError` as for a status.
   */
  | { kind: 'grpc'; code: number; retryOn: readonly number[]; peerError?: string | undefined };

/** The service's (or route's) retry settings that the decision reads. */
export type RetrySettings = Pick<
  RetryPolicy,
  'maxRetries' | 'statuses' | 'nonIdempotent' | 'backoffBaseMs' | 'backoffMaxMs'
>;

/** What {@link decideRetry} is asked about one attempt that just ended. */
export interface RetryQuestion {
  /** The attempt that ended, counting from 0 (the first, before any retry). */
  attempt: number;
  /** The request's method. */
  method: string;
  /** Whether the request may be sent twice; absent: RFC 9110's idempotent methods ({@link isIdempotent}). */
  idempotent?: boolean | undefined;
  /** Whether the body was buffered, so that it can be sent again (no body counts as buffered). */
  replayable: boolean;
  outcome: AttemptOutcome;
  settings: RetrySettings;
  /**
   * Picks the endpoint for the retry, true when there is one. Asked only
   * once everything else allows a retry: a retry is only worth declining an
   * answer for when another endpoint exists.
   */
  anotherEndpoint: () => boolean;
  /**
   * The retry budget's answer (its `tryAcquire`). Asked last, since a yes
   * spends a token, so that only retries that really go out count.
   */
  budget: () => boolean;
}

/** Why an attempt is retried. */
export type RetryReason =
  /** Could not connect: the request never reached an app. */
  | 'connect'
  /** The peer agent could not reach its app: the request never reached one either. */
  | 'peer-app-unreachable'
  /** The peer agent did not know its service's authorization policy yet (503): the request never reached an app. */
  | 'peer-authz-unknown'
  /** The connection was reset: the app may have acted, so idempotent requests only. */
  | 'reset'
  /** The peer agent's app dropped the connection: as a reset. */
  | 'peer-app-reset'
  /** The app answered a status listed in `retries.statuses`. */
  | 'status'
  /** A gRPC call answered a code listed in `grpc.retryOn` (gRPC's own retry policy: any method). */
  | 'grpc-status';

/** Why an attempt is not retried. */
export type NoRetryReason =
  /** `retries.maxRetries` retries were made already (or none are allowed). */
  | 'attempts-used'
  /** The body was too large to buffer (`retries.maxBufferBytes`), so it cannot be sent again. */
  | 'body-not-replayable'
  /** The failure was retryable, but the method is not idempotent and `retries.nonIdempotent` is off. */
  | 'not-idempotent'
  /** The app's status is not in `retries.statuses`. */
  | 'status-not-listed'
  /** The gRPC code is not in `grpc.retryOn`. */
  | 'grpc-status-not-listed'
  /** An answer the peer agent made itself for another reason than its app (its own timeout, say). */
  | 'peer-error'
  /** A timeout: asking another instance doubles the load exactly when the service is struggling. */
  | 'timeout'
  /** The client left: there is nobody to answer. */
  | 'aborted'
  /** A failure of an unknown kind. */
  | 'other-error'
  /** This agent has no valid workload certificate: another endpoint would not help. */
  | 'identity-unavailable'
  /** Every endpoint (of every tier) has been tried. */
  | 'no-endpoint-left'
  /** The retry budget refused: retries must not multiply the load of an outage. */
  | 'budget-exhausted';

/** What {@link decideRetry} answers. */
export type RetryDecision = { retry: true; reason: RetryReason } | NoRetry;

/** A decision not to retry, and why. */
export interface NoRetry {
  retry: false;
  reason: NoRetryReason;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** RFC 9110 idempotent methods. */
export function isIdempotent(method: string | undefined): boolean {
  return method !== undefined && IDEMPOTENT.has(method);
}

/**
 * Delay before retry number `attempt` (0 for the first retry): the shared
 * full-jitter backoff, a uniform pick in
 * [0, min(backoffMaxMs, backoffBaseMs x 2^attempt)). With the defaults (25 ms,
 * 250 ms) the ceilings run 25, 50, 100, 200, 250, 250 ... ms.
 */
export function retryDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'backoffBaseMs' | 'backoffMaxMs'>,
  random: RandomSource,
): number {
  return backoffDelay(attempt, { initialMs: policy.backoffBaseMs, maxMs: policy.backoffMaxMs }, random);
}

type Verdict = RetryDecision;
// One frozen decision per reason, made once: the policy is asked after every attempt (every answer, before it is
// relayed), and a decision that is read and dropped need not be allocated each time.
const RETRY_REASONS: readonly RetryReason[] = [
  'connect',
  'peer-app-unreachable',
  'peer-authz-unknown',
  'reset',
  'peer-app-reset',
  'status',
  'grpc-status',
];
const NO_RETRY_REASONS: readonly NoRetryReason[] = [
  'attempts-used',
  'body-not-replayable',
  'not-idempotent',
  'status-not-listed',
  'grpc-status-not-listed',
  'peer-error',
  'timeout',
  'aborted',
  'other-error',
  'identity-unavailable',
  'no-endpoint-left',
  'budget-exhausted',
];
const YES = Object.fromEntries(RETRY_REASONS.map((r) => [r, Object.freeze({ retry: true, reason: r })])) as Record<
  RetryReason,
  Verdict
>;
const NO = Object.fromEntries(NO_RETRY_REASONS.map((r) => [r, Object.freeze({ retry: false, reason: r })])) as Record<
  NoRetryReason,
  NoRetry
>;
const yes = (reason: RetryReason): Verdict => YES[reason];
const no = (reason: NoRetryReason): NoRetry => NO[reason];
const ifRepeatable = (mayRepeat: boolean, reason: RetryReason): Verdict =>
  mayRepeat ? YES[reason] : NO['not-idempotent'];

/**
 * Whether an attempt that ended so may be retried, before the endpoint and
 * the budget are asked:
 * - could not connect, or the peer agent says its app could not be reached:
 *   the request never reached an app, so any method is safe to resend;
 * - a reset, the peer's app reset, or a status in `retries.statuses`: the
 *   app may have acted, so only idempotent methods (or all, with
 *   `retries.nonIdempotent`);
 * - never a timeout, nor any other answer the peer agent made itself.
 */
function classify(outcome: AttemptOutcome, mayRepeat: boolean, statuses: readonly number[]): Verdict {
  if (outcome.kind === 'grpc') {
    // The peer's app reset a call it may have begun (it crashed, kill -9): answered UNAVAILABLE, and retried when
    // grpc.retryOn lists it, whatever the method, as gRPC's own retry policy does (documented: at least once).
    if (outcome.peerError === AgentErrorCodes.APP_UNREACHABLE) return yes('peer-app-unreachable');
    if (outcome.peerError === AgentErrorCodes.AUTHZ_POLICY_UNKNOWN) return yes('peer-authz-unknown');
    return outcome.retryOn.includes(outcome.code) ? yes('grpc-status') : no('grpc-status-not-listed');
  }
  if (outcome.kind === 'status') {
    const peer = outcome.peerError;
    if (peer === undefined)
      return statuses.includes(outcome.status) ? ifRepeatable(mayRepeat, 'status') : no('status-not-listed');
    if (peer === AgentErrorCodes.APP_UNREACHABLE) return yes('peer-app-unreachable');
    if (peer === AgentErrorCodes.APP_RESET) return ifRepeatable(mayRepeat, 'peer-app-reset');
    if (peer === AgentErrorCodes.AUTHZ_POLICY_UNKNOWN) return yes('peer-authz-unknown');
    return no('peer-error');
  }
  switch (outcome.error) {
    case 'connect':
      return yes('connect');
    case 'reset':
      return ifRepeatable(mayRepeat, 'reset');
    case 'timeout':
      return no('timeout');
    case 'aborted':
      return no('aborted');
    case 'identity':
      return no('identity-unavailable');
    case 'other':
      return no('other-error');
  }
}

/**
 * The retry decision, in one place, keeping no state of its own (the
 * endpoint pick and the budget come in as functions, and are asked only
 * when everything else allows a retry): after attempt `attempt` ended with
 * `outcome`, is the request sent again, and why (not). A retry needs, in
 * this order: attempts left (`retries.maxRetries`) and a buffered body; a
 * retryable outcome (see {@link classify}); another endpoint not yet tried
 * for the request; and a token from the retry budget. The caller waits
 * {@link retryDelay} before sending it, drawn just before the wait: the
 * balancer shares the random source, and an ejection on the way there
 * (rebuilding a balancer) draws from it first.
 */
export function decideRetry(q: RetryQuestion): RetryDecision {
  if (q.attempt >= q.settings.maxRetries) return no('attempts-used');
  if (!q.replayable) return no('body-not-replayable');
  const verdict = classify(
    q.outcome,
    (q.idempotent ?? isIdempotent(q.method)) || q.settings.nonIdempotent,
    q.settings.statuses,
  );
  if (!verdict.retry) return verdict;
  if (!q.anotherEndpoint()) return no('no-endpoint-left');
  if (!q.budget()) return no('budget-exhausted');
  return verdict;
}
