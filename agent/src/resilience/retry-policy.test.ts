import { describe, expect, it } from 'vitest';
import { AgentErrorCodes } from '../errors.js';
import type { FailureKind } from './failure-kind.js';
import {
  decideRetry,
  isIdempotent,
  type NoRetryReason,
  type RetryDecision,
  type RetryQuestion,
  type RetryReason,
  retryDelay,
} from './retry-policy.js';

const policy = { backoffBaseMs: 25, backoffMaxMs: 250 };

describe('retryDelay', () => {
  it('draws below a ceiling that doubles from backoffBaseMs up to backoffMaxMs', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 10].map((a) => retryDelay(a, policy, top))).toEqual([24, 49, 99, 199, 249, 249]);
  });

  it('jitters over the whole range (full jitter)', () => {
    expect(retryDelay(2, policy, () => 0)).toBe(0);
    expect(retryDelay(2, policy, () => 0.5)).toBe(50);
  });

  it('gives 0 when the backoff is off', () => {
    expect(retryDelay(5, { backoffBaseMs: 0, backoffMaxMs: 0 }, () => 0.9)).toBe(0);
  });
});

describe('isIdempotent', () => {
  it('knows which requests can be replayed', () => {
    expect(isIdempotent('GET') && isIdempotent('PUT') && !isIdempotent('POST') && !isIdempotent(undefined)).toBe(true);
  });

  it.each([
    ['GET', true],
    ['HEAD', true],
    ['OPTIONS', true],
    ['PUT', true],
    ['DELETE', true],
    ['TRACE', true],
    ['POST', false],
    ['PATCH', false],
    ['CONNECT', false],
    ['get', false],
    [undefined, false],
  ])('isIdempotent(%s) is %s', (method, expected) => {
    expect(isIdempotent(method)).toBe(expected);
  });
});

describe('decideRetry', () => {
  /** The defaults of the retry policy, a GET with a buffered body, an endpoint and a budget token to spare. */
  const question = (over: Partial<RetryQuestion>): RetryQuestion => ({
    attempt: 0,
    method: 'GET',
    replayable: true,
    outcome: { kind: 'status', status: 200 },
    settings: { maxRetries: 2, statuses: [502, 503, 504], nonIdempotent: false, backoffBaseMs: 25, backoffMaxMs: 250 },
    anotherEndpoint: () => true,
    budget: () => true,
    ...over,
  });
  const status = (s: number, peerError?: string) => ({ kind: 'status' as const, status: s, peerError });
  const error = (kind: FailureKind) => ({
    kind: 'error' as const,
    error: kind,
  });
  const settings = (over: Partial<RetryQuestion['settings']>) => ({ ...question({}).settings, ...over });
  const retry = (reason: RetryReason): RetryDecision => ({ retry: true, reason });
  const no = (reason: NoRetryReason): RetryDecision => ({ retry: false, reason });

  const cases: Array<[string, Partial<RetryQuestion>, RetryDecision]> = [
    // An answer from the app: its status, if listed, for methods that may be repeated.
    ['a GET answered 503', { outcome: status(503) }, retry('status')],
    ['a GET answered 502', { outcome: status(502) }, retry('status')],
    ['a GET answered 500 (not listed)', { outcome: status(500) }, no('status-not-listed')],
    ['a GET answered 200', { outcome: status(200) }, no('status-not-listed')],
    [
      'a GET answered 429 when 429 is listed',
      { outcome: status(429), settings: settings({ statuses: [429] }) },
      retry('status'),
    ],
    ['a POST answered 503', { method: 'POST', outcome: status(503) }, no('not-idempotent')],
    [
      'a POST answered 503 with nonIdempotent',
      { method: 'POST', outcome: status(503), settings: settings({ nonIdempotent: true }) },
      retry('status'),
    ],
    [
      'a POST answered 503, said to be idempotent',
      { method: 'POST', idempotent: true, outcome: status(503) },
      retry('status'),
    ],
    [
      'a GET answered 503, said not to be idempotent',
      { idempotent: false, outcome: status(503) },
      no('not-idempotent'),
    ],
    // An answer the peer agent made itself.
    [
      "a POST the peer's app was unreachable for",
      { method: 'POST', outcome: status(502, AgentErrorCodes.APP_UNREACHABLE) },
      retry('peer-app-unreachable'),
    ],
    [
      'a POST the peer agent refused 503 as it did not know its authorization policy yet',
      { method: 'POST', outcome: status(503, AgentErrorCodes.AUTHZ_POLICY_UNKNOWN) },
      retry('peer-authz-unknown'),
    ],
    ["a GET the peer's app reset", { outcome: status(502, AgentErrorCodes.APP_RESET) }, retry('peer-app-reset')],
    [
      "a POST the peer's app reset",
      { method: 'POST', outcome: status(502, AgentErrorCodes.APP_RESET) },
      no('not-idempotent'),
    ],
    [
      "the peer's own timeout, though 504 is listed",
      { outcome: status(504, AgentErrorCodes.UPSTREAM_TIMEOUT) },
      no('peer-error'),
    ],
    ["the peer's other errors", { outcome: status(503, AgentErrorCodes.NO_HEALTHY_ENDPOINT) }, no('peer-error')],
    // No answer.
    ['a POST that could not connect', { method: 'POST', outcome: error('connect') }, retry('connect')],
    ['a GET reset', { outcome: error('reset') }, retry('reset')],
    ['a POST reset', { method: 'POST', outcome: error('reset') }, no('not-idempotent')],
    [
      'a POST reset with nonIdempotent',
      { method: 'POST', outcome: error('reset'), settings: settings({ nonIdempotent: true }) },
      retry('reset'),
    ],
    ['a timeout', { outcome: error('timeout') }, no('timeout')],
    ['a client that left', { outcome: error('aborted') }, no('aborted')],
    ['an unknown failure', { outcome: error('other') }, no('other-error')],
    ['this agent has no valid certificate', { outcome: error('identity') }, no('identity-unavailable')],
    // Attempts, body, endpoints, budget.
    ['the second retry', { attempt: 1, outcome: error('connect') }, retry('connect')],
    ['a third retry when maxRetries is 2', { attempt: 2, outcome: error('connect') }, no('attempts-used')],
    [
      'any retry when maxRetries is 0',
      { outcome: error('connect'), settings: settings({ maxRetries: 0 }) },
      no('attempts-used'),
    ],
    ['a body too large to buffer', { replayable: false, outcome: error('connect') }, no('body-not-replayable')],
    ['no endpoint left to try', { outcome: error('connect'), anotherEndpoint: () => false }, no('no-endpoint-left')],
    ['a budget that refuses', { outcome: status(503), budget: () => false }, no('budget-exhausted')],
  ];

  it.each(cases)('%s', (_name, over, want) => {
    expect(decideRetry(question(over))).toEqual(want);
  });

  it('asks for another endpoint, then the budget, only once the outcome is retryable, so that no token is spent for nothing', () => {
    const asked: string[] = [];
    const q = (over: Partial<RetryQuestion>) =>
      question({
        anotherEndpoint: () => (asked.push('endpoint'), true),
        budget: () => (asked.push('budget'), true),
        ...over,
      });
    decideRetry(q({ outcome: status(500) }));
    decideRetry(q({ outcome: error('timeout') }));
    decideRetry(q({ attempt: 2, outcome: error('connect') }));
    decideRetry(q({ replayable: false, outcome: status(503) }));
    expect(asked).toEqual([]);
    decideRetry(q({ outcome: status(503), anotherEndpoint: () => (asked.push('endpoint'), false) }));
    expect(asked).toEqual(['endpoint']);
    decideRetry(q({ outcome: status(503) }));
    expect(asked).toEqual(['endpoint', 'endpoint', 'budget']);
  });
  it('retries a gRPC code listed in grpc.retryOn for any method (gRPC retry policy), and no other', () => {
    const grpc = (code: number, peerError?: string) => ({ kind: 'grpc' as const, code, retryOn: [14], peerError });
    expect(decideRetry(question({ method: 'POST', outcome: grpc(14) }))).toEqual(retry('grpc-status'));
    expect(decideRetry(question({ method: 'POST', outcome: grpc(13) }))).toEqual(no('grpc-status-not-listed'));
    expect(decideRetry(question({ method: 'POST', outcome: grpc(13, 'MESHLET_APP_UNREACHABLE') }))).toEqual(
      retry('peer-app-unreachable'),
    );
    expect(decideRetry(question({ method: 'POST', outcome: grpc(14), replayable: false }))).toEqual(
      no('body-not-replayable'),
    );
    expect(decideRetry(question({ method: 'POST', outcome: grpc(14), attempt: 2 }))).toEqual(no('attempts-used'));
    expect(decideRetry(question({ method: 'POST', outcome: grpc(14), budget: () => false }))).toEqual(
      no('budget-exhausted'),
    );
  });
});
