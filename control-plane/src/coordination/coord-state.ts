import { type CoordKind, type CoordResult, type CoordState, SharedErrorCodes } from '@meshlet/shared';

/** Why a `MESHLET_COORDINATION_REFUSED` was refused: the agent answers its app 403, 503, 429 or 400 by it. */
export type CoordRefusal = NonNullable<CoordResult['refusal']>;
import type { HeldLock } from './lock-backend.js';

/** The wire state of a lock: its holder when held (the revision is then its token), else free at the last revision known. */
export function coordState(
  at: { kind: CoordKind; service: string; name: string },
  held: HeldLock | undefined,
  freeRevision: number,
): CoordState {
  if (!held) return { ...at, revision: freeRevision };
  const r = held.record;
  return {
    ...at,
    holder: r.holder,
    token: held.token,
    ttlMs: r.ttlMs,
    releaseOnUnhealthy: r.releaseOnUnhealthy,
    revision: held.token,
  };
}

/** A `coordResult` that failed with `code` (a MESHLET_* code) and a message that says the fix. */
export function coordFailure(id: number, code: string, message: string, state?: CoordState): CoordResult {
  return { type: 'coordResult', id, ok: false, code, message, ...(state ? { state } : {}) };
}

/** A `MESHLET_COORDINATION_REFUSED` result, with why (`refusal`), for the agent's HTTP status. */
export function coordRefused(id: number, refusal: CoordRefusal, message: string, state?: CoordState): CoordResult {
  return { ...coordFailure(id, SharedErrorCodes.COORDINATION_REFUSED, message, state), refusal };
}

/** What holds a lock, for messages: `agent a1 (instance i1, "label") with token 7`. */
export function describeHolder(state: CoordState): string {
  const h = state.holder;
  if (!h) return 'nobody';
  const label = h.label ? `, ${JSON.stringify(h.label)}` : '';
  return `agent ${h.agentId} (instance ${h.instanceId}${label}) with token ${state.token ?? '?'}`;
}

/** The codes a coordinator answers with. */
export const CoordCodes = {
  HELD: SharedErrorCodes.LOCK_HELD,
  NOT_HELD: SharedErrorCodes.LOCK_NOT_HELD,
  REFUSED: SharedErrorCodes.COORDINATION_REFUSED,
} as const;
