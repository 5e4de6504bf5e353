/**
 * Backups of the control plane's store: snapshots, full or incremental,
 * checked before anything is restored from them.
 *
 * A snapshot is one JSON document (`meshlet-snapshot/v1`, see
 * {@link Snapshot}): the store's cluster id, the revision range it covers,
 * its entries sorted by key, and a SHA-256 checksum of its canonical JSON.
 * A restore takes one full snapshot and the incrementals taken after it,
 * each since the previous one's revision: {@link verifySnapshots} refuses
 * anything else before {@link restoreSnapshots} may write.
 */
export { canonicalJson } from './canonical-json.js';
export { restoreSnapshots, type RestoreResult } from './restore-snapshots.js';
export {
  isExcludedKey,
  SNAPSHOT_EXCLUDED_KEYS,
  snapshotChecksum,
  type Snapshot,
  type SnapshotEntry,
} from './snapshot-format.js';
export { takeSnapshot, type TakeSnapshotOptions } from './take-snapshot.js';
export {
  verifySnapshots,
  type SnapshotError,
  type SnapshotVerification,
  type VerifiedSnapshots,
} from './verify-snapshots.js';
