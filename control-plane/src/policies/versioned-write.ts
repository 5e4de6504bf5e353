import type { Store } from '../store/store.js';

/** The outcome of a {@link versionedPut} or {@link versionedDelete}: the store revision of the write when done. */
export type VersionedWrite = { ok: true; revision: number } | { ok: false; status: 404 | 409; message: string };

/** How a refused write names what it wrote: `the policy of "orders"`, and the text when there is none to delete. */
export interface WriteNames {
  what: string;
  missing: string;
}

/**
 * Writes `value` at `key`; with `resourceVersion`, only if the key was last
 * written at that revision ("0": only if absent). The check is the store's
 * own (etcd: in the write's transaction), not this replica's copy, which may
 * lag another replica's writes.
 */
export async function versionedPut(
  store: Store,
  key: string,
  value: unknown,
  resourceVersion: string | undefined,
  names: WriteNames,
): Promise<VersionedWrite> {
  if (resourceVersion === undefined) return { ok: true, revision: await store.put(key, value) };
  const revision = await store.writeIf(key, value, Number(resourceVersion));
  if (revision === undefined) {
    const current = String(store.modRevision(key) ?? 0);
    return {
      ok: false,
      status: 409,
      message: `resourceVersion ${resourceVersion} is stale: ${names.what} is at ${current}; get it again and reapply your change`,
    };
  }
  return { ok: true, revision };
}

/** Deletes `key`, with `resourceVersion` only if it is still current; 404 when there is nothing to delete. */
export async function versionedDelete(
  store: Store,
  key: string,
  resourceVersion: string | undefined,
  names: WriteNames,
): Promise<VersionedWrite> {
  const missing = { ok: false as const, status: 404 as const, message: names.missing };
  if (resourceVersion === undefined) {
    if (store.modRevision(key) === undefined) return missing;
    return { ok: true, revision: await store.delete(key) };
  }
  const revision = await store.writeIf(key, undefined, Number(resourceVersion));
  if (revision === undefined) {
    const rev = store.modRevision(key);
    if (rev === undefined) return missing;
    return {
      ok: false,
      status: 409,
      message: `resourceVersion ${resourceVersion} is stale: ${names.what} is at ${rev}; get it again`,
    };
  }
  return { ok: true, revision };
}
