import type { Store } from '../store/store.js';
import { canonicalJson } from './canonical-json.js';
import { isExcludedKey } from './snapshot-format.js';
import type { VerifiedSnapshots } from './verify-snapshots.js';

/** What {@link restoreSnapshots} did. */
export interface RestoreResult {
  /** Keys the store holds from the snapshots (excluded keys not counted). */
  keys: number;
  /** The store's revision after the restore (its own numbering, not the snapshots'). */
  revision: number;
  /** Keys put because they were missing or held another value. */
  written: number;
  /** Keys deleted because the snapshots do not have them. */
  deleted: number;
}

/**
 * Makes the store's keys, excluded ones aside, exactly the verified state:
 * deletes the keys it does not have and puts the ones whose value differs.
 * Unchanged keys are not rewritten, so their modRevision (the resource
 * version clients hold) stays valid and a restore of what is already there
 * writes nothing.
 *
 * Only what {@link verifySnapshots} accepted can be passed: verify first,
 * and on a refusal write nothing. A write that fails stops the restore
 * part-way; running it again finishes it, since it only does what is left.
 * The store keeps its own cluster id and revisions, so the next incremental
 * snapshot of it needs a new full one first.
 */
export async function restoreSnapshots(store: Store, verified: VerifiedSnapshots): Promise<RestoreResult> {
  let written = 0;
  let deleted = 0;
  // Deletions first: every write rewrites the store, which is smaller without them.
  for (const key of store.keys()) {
    if (isExcludedKey(key) || verified.state.has(key)) continue;
    await store.delete(key);
    deleted++;
  }
  // Compared as JSON, which is what the store keeps: {a: undefined} equals {}.
  for (const [key, value] of verified.state) {
    const current = store.get(key);
    if (current !== undefined && canonicalJson(current) === canonicalJson(value)) continue;
    await store.put(key, structuredClone(value));
    written++;
  }
  return { keys: verified.state.size, revision: store.revision(), written, deleted };
}
