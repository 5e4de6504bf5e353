import type { ServerResponse } from 'node:http';
import type { Endpoint, TimeoutPolicy } from '@meshlet/shared';
import type { Dispatcher } from 'undici';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { InFlightAttempts } from './in-flight-attempts.js';
import type { OriginPools } from './origin-pools.js';
import { dispatchRelay, type RelayOptions, type RelayOutcome } from './relay-handler.js';

/** What {@link attemptEndpoint} needs from its listener (a subset of its options). */
export interface AttemptContext {
  pools: OriginPools;
  stats: EndpointStatsMap;
  clock: () => number;
  /** Attempts that may be given up when their endpoint is declared gone; absent: none are. */
  inFlight?: InFlightAttempts | undefined;
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
export async function attemptEndpoint(
  ctx: AttemptContext,
  endpoint: Endpoint,
  request: Dispatcher.DispatchOptions,
  res: ServerResponse,
  timeouts: TimeoutPolicy,
  accept: RelayOptions['accept'],
  service: string,
  canResend?: () => boolean,
): Promise<{ outcome: RelayOutcome; answeredMs: number }> {
  const stats = ctx.stats.get(endpoint.id);
  stats.active++;
  const started = performance.now();
  let answeredMs = -1;
  let unregister: (() => void) | undefined;
  const outcome = await dispatchRelay(
    ctx.pools.get(endpoint.host, endpoint.port, timeouts, {
      service,
      mtls: endpoint.mtls === true,
    }),
    request,
    res,
    {
      fromApp: false,
      headersDeadlineMs: timeouts.requestMs,
      onHeaders: () => {
        answeredMs = performance.now() - started;
        stats.observe(answeredMs, ctx.clock());
      },
      accept,
    },
    canResend && ctx.inFlight
      ? (h) => (unregister = ctx.inFlight?.add(endpoint.id, { abandon: (err) => canResend() && h.abandon(err) }))
      : undefined,
  );
  unregister?.();
  stats.active--;
  return { outcome, answeredMs };
}
