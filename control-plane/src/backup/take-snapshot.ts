import { MeshletError, SNAPSHOT_FORMAT } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { Store } from '../store/store.js';
import { isExcludedKey, snapshotChecksum, type Snapshot, type SnapshotEntry } from './snapshot-format.js';

/** Options of {@link takeSnapshot}. */
export interface TakeSnapshotOptions {
  /** Take an incremental snapshot of the changes after this revision (the previous snapshot's `revision`); absent: a full one. */
  since?: number;
  /** Clock for `createdAt`, in milliseconds since the epoch. */
  now?: () => number;
}

/**
 * Takes a snapshot of `store`: full without `options.since`, incremental
 * otherwise. It reads the store synchronously, so no write can land in the
 * middle and the entries are exactly the store at `revision`.
 *
 * @throws MeshletError `MESHLET_SNAPSHOT_INVALID` when `since` is not a revision the store has reached.
 */
export function takeSnapshot(store: Store, options: TakeSnapshotOptions = {}): Snapshot {
  const { since, now = Date.now } = options;
  const revision = store.revision();
  if (since !== undefined && !(Number.isSafeInteger(since) && since >= 0 && since <= revision)) {
    throw new MeshletError(
      ControlPlaneErrorCodes.SNAPSHOT_INVALID,
      `cannot take an incremental snapshot since revision ${since}: the store is at revision ${revision}. ` +
        'Pass the revision of the last snapshot taken of this store, or take a full snapshot (the store may have been replaced or restored since)',
    );
  }
  const entries: SnapshotEntry[] = [];
  if (since === undefined) {
    for (const key of store.keys()) {
      const value = store.get(key);
      // A value JSON cannot hold is not on disk either: after a restart the key is gone.
      if (isExcludedKey(key) || value === undefined) continue;
      entries.push({ key, modRevision: store.modRevision(key) ?? revision, value: toJson(value) });
    }
  } else {
    for (const change of store.changesSince(since)) {
      if (isExcludedKey(change.key)) continue;
      entries.push(
        change.deleted === true || change.value === undefined
          ? { key: change.key, modRevision: change.modRevision, deleted: true }
          : { key: change.key, modRevision: change.modRevision, value: toJson(change.value) },
      );
    }
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const doc: Omit<Snapshot, 'checksum'> = {
    format: SNAPSHOT_FORMAT,
    kind: since === undefined ? 'full' : 'incremental',
    clusterId: store.clusterId(),
    since: since ?? 0,
    revision,
    createdAt: new Date(now()).toISOString(),
    entries,
  };
  return { ...doc, checksum: snapshotChecksum(doc) };
}

/**
 * A copy of `value` as it reads back from JSON: the snapshot then neither
 * shares objects with the live store nor holds what the file cannot (its
 * checksum is of what is written).
 */
function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}
