import type { ServerResponse } from 'node:http';
import { AgentErrors } from '../errors.js';
import type { Destination } from '../route/destination.js';
import { sendJsonError } from './json-error.js';

/**
 * Answers a request no endpoint answered: 503 `MESHLET_NO_HEALTHY_ENDPOINT`
 * when none was there to try, else 502 `MESHLET_UPSTREAM_UNREACHABLE` with
 * every attempt's failure (and whether the retry budget stopped retries);
 * a gRPC call gets the same as a gRPC status.
 */
export function answerExhausted(
  res: ServerResponse,
  d: Destination,
  failures: readonly string[],
  budgetExhausted: boolean,
): void {
  const { dest } = d;
  if (failures.length === 0) {
    sendJsonError(
      res,
      AgentErrors.NO_HEALTHY_ENDPOINT(
        `service "${dest.name}" has no healthy endpoint to send to (routing table version ${d.version})`,
      ),
      { service: dest.name },
    );
    return;
  }
  const why = budgetExhausted ? '; the retry budget is exhausted, so no more retries were made' : '';
  sendJsonError(
    res,
    AgentErrors.UPSTREAM_UNREACHABLE(`no endpoint of "${dest.name}" could be reached (${failures.join('; ')})${why}`),
    { service: dest.name, attempts: failures.length },
  );
}
