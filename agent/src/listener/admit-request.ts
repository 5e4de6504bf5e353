import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshletHttpError } from '@meshlet/shared';
import type { CircuitRelease } from '../resilience/circuit-breaker.js';
import { AgentErrorCodes, AgentErrors, CIRCUIT_HEADER } from '../errors.js';
import { decideFault } from '../resilience/fault-decision.js';
import type { Destination } from '../route/destination.js';
import { sendJsonError } from './json-error.js';

/**
 * The gates a routed request passes before it is forwarded, in this order:
 * the service's local rate limit, its fault injection (a delay, then maybe
 * an abort) and the destination's circuit breaker, which may hold the
 * request until a slot frees or the request timeout ends (15 s when none).
 * The order matters: a request refused by the rate limit draws no fault and
 * takes no breaker slot, and an injected delay is spent before queueing.
 *
 * Returns the breaker slot's release, to call once the forward is over; or
 * undefined when a gate refused the request, which has then been answered.
 * Synchronously when no gate has to wait (no fault injection, a breaker slot
 * free: nearly every request), so that the caller awaits nothing then; a
 * promise of the same when one waits.
 */
export function admitRequest(
  res: ServerResponse,
  d: Destination,
  random: () => number,
): CircuitRelease | undefined | Promise<CircuitRelease | undefined> {
  const { svc } = d;
  if (svc.limiter && !svc.limiter.tryTake()) {
    sendJsonError(
      res,
      AgentErrors.RATE_LIMITED(
        `the local rate limit of "${svc.name}" (${svc.policy.rateLimit?.requestsPerSecond} requests per second) is exhausted; retry later`,
      ),
      { service: svc.name },
    );
    return undefined;
  }
  if (svc.policy.faultInjection) return injectFault(res, d, random);
  return d.dest.breaker.tryAcquireSync() ?? queueForBreaker(res, d);
}

/** The fault injection gate (a delay, then maybe an abort), then the breaker's. */
async function injectFault(
  res: ServerResponse,
  d: Destination,
  random: () => number,
): Promise<CircuitRelease | undefined> {
  const { svc } = d;
  const faults = svc.policy.faultInjection;
  if (faults) {
    const f = decideFault(faults, random);
    if (f.delayMs > 0) await sleep(f.delayMs);
    if (f.abortStatus !== undefined) {
      sendJsonError(
        res,
        new MeshletHttpError(
          AgentErrorCodes.FAULT_INJECTED,
          f.abortStatus,
          `fault injection of "${svc.name}" aborted this request (a drill: remove faultInjection from the policy to stop it)`,
        ),
        { service: svc.name },
      );
      return undefined;
    }
  }

  return d.dest.breaker.tryAcquireSync() ?? queueForBreaker(res, d);
}

/** All the breaker's slots are taken: waits for one in its queue, or answers that the circuit is open. */
async function queueForBreaker(res: ServerResponse, d: Destination): Promise<CircuitRelease | undefined> {
  const dest = d.dest;
  const got = await dest.breaker.acquire(d.timeouts.requestMs || 15_000);
  if (typeof got === 'function') return got;
  dest.metrics.circuitOpen();
  if (!res.headersSent) res.setHeader(CIRCUIT_HEADER, got.open);
  sendJsonError(
    res,
    AgentErrors.CIRCUIT_OPEN(
      `the circuit breaker of "${dest.name}" is open (${got.open}): ${dest.policy.circuitBreaker.maxConcurrent} requests in flight and ${dest.policy.circuitBreaker.maxPending} waiting at most`,
    ),
    { service: dest.name, reason: got.open },
  );
  return undefined;
}
