import type { ServerResponse } from 'node:http';
import type { Endpoint } from '@meshlet/shared';
import { AgentErrors } from '../errors.js';
import { ENDPOINT_LOST_CODE, type FailureKind, failureKind } from '../resilience/failure-kind.js';
import type { Destination } from '../route/destination.js';
import { sendJsonError } from './json-error.js';
import type { RelayOutcome } from './relay-handler.js';

/**
 * Settles an attempt that got no answer: counted against its endpoint
 * unless the client left or the agent's own identity was unusable (a 503
 * `MESHLET_IDENTITY_UNAVAILABLE`). Returns how it failed, for the retry policy;
 * undefined when the request ends here: the client left, already had a
 * status (it is cut off), or the endpoint timed out (never retried: the
 * client gets a 504).
 */
export function settleFailedAttempt(
  outcome: RelayOutcome & { kind: 'failed' },
  endpoint: Endpoint,
  d: Destination,
  res: ServerResponse,
): FailureKind | undefined {
  const kind = failureKind(outcome.error);
  // A client that left says nothing about the endpoint.
  if (kind === 'aborted' || res.destroyed) return undefined;
  if (kind === 'identity') {
    // This agent's own certificate is missing or expired: nothing left, the endpoint is not to blame (no ejection,
    // no observation), and no other endpoint would do better.
    if (outcome.headersSent) res.destroy();
    else sendJsonError(res, AgentErrors.IDENTITY_UNAVAILABLE(outcome.error.message), { service: d.dest.name });
    return undefined;
  }
  // Given up because the endpoint was declared gone: already counted where it was declared, not a failure of its own
  // (N waiting requests must not add N failures to an ejection or to the callers' reports). Retried as a reset.
  if ((outcome.error as { code?: string }).code === ENDPOINT_LOST_CODE) return kind;
  d.dest.metrics.attempt(endpoint.id, -1);
  d.dest.outcome(endpoint.id, true);
  if (outcome.headersSent) res.destroy();
  else if (kind === 'timeout')
    sendJsonError(
      res,
      AgentErrors.UPSTREAM_TIMEOUT(
        `endpoint ${endpoint.id} of "${d.dest.name}" did not answer within ${d.timeouts.requestMs} ms`,
      ),
      { service: d.dest.name, endpoint: endpoint.id },
    );
  else return kind;
  return undefined;
}
