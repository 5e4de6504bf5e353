import { type CoordResult, MeshletHttpError } from '@meshlet/shared';
import { AgentErrors } from '../errors.js';

/** How long the agent waits for the control plane's answer to one `coord` request. */
export const COORD_ANSWER_TIMEOUT_MS = 5_000;

/** What the app is told when the agent has no stream to the control plane: nothing is granted from a cache. */
export function streamDown(op: string, what: string): MeshletHttpError {
  return AgentErrors.COORDINATION_UNAVAILABLE(
    `the agent has no stream to the control plane, so it cannot ${op} ${what}: no lock is granted or renewed from ` +
      'a cache; retry once the stream is back (GET /ready on the agent shows controlPlane.connected)',
  );
}

/**
 * What the app is told when a request went out and no answer came back (in
 * time, or before the stream dropped): the control plane may have done it.
 */
export function outcomeUnknown(op: string, what: string, why: string): MeshletHttpError {
  return AgentErrors.COORDINATION_UNAVAILABLE(
    `${why}: the outcome of the ${op} of ${what} is unknown; a lock it may have granted lapses with its TTL unless ` +
      'renewed, and a lease held stays in doubt until the stream is back (the events stream says "restored" or "lost")',
  );
}

/** The HTTP status of each structured `refusal` of a `MESHLET_COORDINATION_REFUSED`. */
const REFUSAL_STATUS: Record<NonNullable<CoordResult['refusal']>, number> = {
  'no-service': 403,
  store: 503,
  limit: 429,
  request: 400,
  unhealthy: 503,
  // Only the agent's own failover manager asks for the failover election (the app API refuses `meshlet.` names).
  'not-candidate': 409,
};

/**
 * The app's error for a refused `coordResult`: the codes the agent binds
 * (409 for `MESHLET_LOCK_HELD` and `MESHLET_LOCK_NOT_HELD`) with their
 * status, and the control plane's own passed through:
 * `MESHLET_COORDINATION_REFUSED` by its `refusal` (403 for an agent admitted
 * for no service, 503 when its store failed, 429 past a rate or size limit,
 * 400 for a request it found invalid, such as a renewal longer than the
 * lease); from a control plane that sends no `refusal`, by the words of its
 * message (403 "no service", 503 "store", else 400); a schema refusal 400;
 * anything else 503.
 */
export function coordFailure(result: CoordResult): MeshletHttpError {
  const message = result.message ?? 'the control plane refused the coordination request';
  const code = result.code ?? AgentErrors.COORDINATION_UNAVAILABLE.code;
  if (code === AgentErrors.LOCK_HELD.code) return AgentErrors.LOCK_HELD(message);
  if (code === AgentErrors.LOCK_NOT_HELD.code) return AgentErrors.LOCK_NOT_HELD(message);
  if (code === AgentErrors.COORDINATION_UNAVAILABLE.code) return AgentErrors.COORDINATION_UNAVAILABLE(message);
  const status =
    code === 'MESHLET_COORDINATION_REFUSED'
      ? result.refusal !== undefined
        ? REFUSAL_STATUS[result.refusal]
        : /no service/i.test(message)
          ? 403
          : /store/i.test(message)
            ? 503
            : 400
      : code.startsWith('MESHLET_PROTOCOL_')
        ? 400
        : 503;
  return new MeshletHttpError(code as `MESHLET_${string}`, status, message);
}
