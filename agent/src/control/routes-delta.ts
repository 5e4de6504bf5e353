import { type Routes, SharedErrorCodes } from '@meshlet/shared';

/** A delta applied: the full table it makes, or why it was refused (with the NACK's code). */
export type DeltaResult = { ok: true; routes: Routes } | { ok: false; error: string; code: string };

/** How a table made by {@link applyDelta} differs from the table it was made on. */
export interface DeltaOrigin {
  /**
   * The table the delta was applied to; `undefined` once nothing else holds
   * it. It is held weakly: a strong link would keep every table made since
   * the last full one alive, each one through the next (about 10 KB per delta
   * at 1000 services; 28 -> 58 MB of heap after 4000 deltas).
   */
  readonly base: Routes | undefined;
  /** Services the delta replaced or added (none of them removed). */
  readonly changed: readonly string[];
  /** Services the delta dropped that the base held. */
  readonly removed: readonly string[];
}

/**
 * Tables are never changed once made (each install keeps the objects of the
 * services a delta left alone), so what a delta changed can be remembered
 * beside the table it made: the route table, the ring checksums and the
 * applier then do work in proportion to the delta, not to the table (a health
 * change in a 1000-service table cost 30 ms of event loop when each install
 * walked every service; see docs/benchmarks.md, "Growth").
 */
const origins = new WeakMap<Routes, DeltaOrigin>();

/** A {@link DeltaOrigin} whose base is held weakly. */
class WeakOrigin implements DeltaOrigin {
  readonly #base: WeakRef<Routes>;
  readonly changed: readonly string[];
  readonly removed: readonly string[];

  constructor(base: Routes, changed: readonly string[], removed: readonly string[]) {
    this.#base = new WeakRef(base);
    this.changed = changed;
    this.removed = removed;
  }

  get base(): Routes | undefined {
    return this.#base.deref();
  }
}

/** What the delta that made `routes` changed over its base; `undefined` for a full table. */
export function deltaOrigin(routes: Routes): DeltaOrigin | undefined {
  return origins.get(routes);
}

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
 * as it is; what it changed is kept apart (see {@link deltaOrigin}).
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
  const dropped = new Set(delta.removed ?? []);
  for (const name of dropped) delete services[name];
  const routes: Routes = { type: 'routes', version: delta.version, nonce: delta.nonce, services };
  if (held !== undefined) {
    const changed = Object.keys(delta.services).filter((name) => !dropped.has(name));
    const removed = [...dropped].filter((name) => Object.hasOwn(held.services, name));
    origins.set(routes, new WeakOrigin(held, changed, removed));
  }
  return { ok: true, routes };
}
