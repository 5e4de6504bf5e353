import type { ServerResponse } from 'node:http';
import type { Endpoint, TimeoutPolicy } from '@meshlet/shared';
import type { Dispatcher } from 'undici';
import type { EndpointStats, EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { AbandonableAttempt, InFlightAttempts } from './in-flight-attempts.js';
import type { OriginPools } from './origin-pools.js';
import { RelayHandler, type RelayOptions, type RelayOutcome } from './relay-handler.js';

/** What {@link attemptEndpoint} needs from its listener (a subset of its options). */
export interface AttemptContext {
  pools: OriginPools;
  stats: EndpointStatsMap;
  clock: () => number;
  /** Attempts that may be given up when their endpoint is declared gone; absent: none are. */
  inFlight?: InFlightAttempts | undefined;
}

/** How one attempt ended (see {@link attemptEndpoint}). */
export interface AttemptResult {
  readonly outcome: RelayOutcome;
  /** Milliseconds to the answer's headers; -1 when no answer came. */
  readonly answeredMs: number;
}

/**
 * One attempt in flight: the relay's options (its `onHeaders` hook is a
 * method here, so an attempt allocates one object rather than a closure per
 * hook), the in-flight registration's entry, and, once it ended, its
 * {@link AttemptResult}.
 */
class EndpointAttempt implements RelayOptions, AbandonableAttempt, AttemptResult {
  readonly fromApp = false;
  readonly headersDeadlineMs: number;
  readonly accept: RelayOptions['accept'];
  /** Set when the attempt ends, before its promise resolves with it. */
  outcome!: RelayOutcome;
  answeredMs = -1;
  handler: RelayHandler | undefined;
  readonly #stats: EndpointStats;
  readonly #clock: () => number;
  readonly #canResend: (() => boolean) | undefined;
  readonly #started = performance.now();

  constructor(
    stats: EndpointStats,
    clock: () => number,
    deadlineMs: number,
    accept: RelayOptions['accept'],
    canResend: (() => boolean) | undefined,
  ) {
    this.#stats = stats;
    this.#clock = clock;
    this.headersDeadlineMs = deadlineMs;
    this.accept = accept;
    this.#canResend = canResend;
  }

  onHeaders(): void {
    this.answeredMs = performance.now() - this.#started;
    this.#stats.observe(this.answeredMs, this.#clock());
  }

  abandon(err: Error): boolean {
    return (
      this.#canResend !== undefined && this.#canResend() && this.handler !== undefined && this.handler.abandon(err)
    );
  }
}

/**
 * One attempt of a request on `endpoint`, relayed through the pool of its
 * origin. The endpoint counts the attempt as active while it lasts, and
 * observes the time to the answer's headers when one comes (what the
 * balancer's EWMA and the observations feed on). `answeredMs` is that time,
 * -1 when no answer came. `service` is the one the endpoint belongs to:
 * an mTLS endpoint must prove to be it. With `canResend` (the request may
 * be sent again elsewhere, asked at that moment), the attempt is registered
 * in `ctx.inFlight`, so that it is given up if its endpoint is declared gone
 * before it answers and a retry can be made.
 */
export function attemptEndpoint(
  ctx: AttemptContext,
  endpoint: Endpoint,
  request: Dispatcher.DispatchOptions,
  res: ServerResponse,
  timeouts: TimeoutPolicy,
  accept: RelayOptions['accept'],
  service: string,
  canResend?: () => boolean,
): Promise<AttemptResult> {
  const stats = ctx.stats.get(endpoint.id);
  const inFlight = canResend === undefined ? undefined : ctx.inFlight;
  return new Promise((resolve) => {
    const attempt = new EndpointAttempt(stats, ctx.clock, timeouts.requestMs, accept, canResend);
    const pool = ctx.pools.get(endpoint.host, endpoint.port, timeouts, { service, mtls: endpoint.mtls === true });
    // After the pool: a pool that cannot be made must not leave the endpoint counted busy forever (least_request).
    stats.active++;
    const handler = new RelayHandler(res, attempt, (outcome) => {
      if (inFlight !== undefined) inFlight.delete(endpoint.id, attempt);
      stats.active--;
      attempt.outcome = outcome;
      resolve(attempt);
    });
    attempt.handler = handler;
    if (inFlight !== undefined) inFlight.add(endpoint.id, attempt);
    pool.dispatch(request, handler);
  });
}
