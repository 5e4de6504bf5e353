import { type Routes, SharedErrorCodes } from '@meshlet/shared';

/** A delta applied: the full table it makes, or why it was refused (with the NACK's code). */
export type DeltaResult = { ok: true; routes: Routes } | { ok: false; error: string; code: string };

/**
 * The full table a routing-table delta makes on top of `held` (the table in
 * force; `undefined`: none, version 0). A `Routes` with `baseVersion` is a
 * delta: `services` replaces those services whole, and `removed` drops
 * services (a name in both is dropped). A delta built on another version
 * than the one held is refused, and the table held stays: the control plane
 * answers that NACK with a full table.
 *
 * A full table (no `baseVersion`) is returned unchanged. The result never
 * carries `baseVersion` or `removed`, so that it can be persisted and served
 * as it is.
 */
export function applyDelta(held: Routes | undefined, delta: Routes): DeltaResult {
  if (delta.baseVersion === undefined) return { ok: true, routes: delta };
  const heldVersion = held?.version ?? 0;
  if (heldVersion !== delta.baseVersion) {
    return {
      ok: false,
      code: SharedErrorCodes.DELTA_BASE_MISMATCH,
      error: `delta version ${delta.version} is built on table version ${delta.baseVersion}, but this agent holds ${held ? `version ${heldVersion}` : 'no table'}; kept the table held, send a full table`,
    };
  }
  const services: Routes['services'] = { ...held?.services, ...delta.services };
  for (const name of delta.removed ?? []) delete services[name];
  return { ok: true, routes: { type: 'routes', version: delta.version, nonce: delta.nonce, services } };
}
