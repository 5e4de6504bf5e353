import { createHash } from 'node:crypto';
import type { SNAPSHOT_FORMAT } from '@meshlet/shared';
import { canonicalJson } from './canonical-json.js';

/**
 * Keys no snapshot carries: operational state that the control plane
 * keeps by itself and that a restore must not roll back. `routing` is the
 * routing-table version counter, which must only grow: an old value put back
 * would hand out versions that agents already hold for other tables.
 */
export const SNAPSHOT_EXCLUDED_KEYS: readonly string[] = Object.freeze(['routing']);

/**
 * Prefixes no snapshot carries: application locks and elections (and their
 * release notes) are live leases, bound to etcd leases and to holders that
 * are running now; a restore that put an old holder back would hand a lock
 * to nobody, without a lease to end it.
 */
export const SNAPSHOT_EXCLUDED_PREFIXES: readonly string[] = Object.freeze(['coord/', 'coord-note/']);

/** Whether `key` is left out of snapshots and untouched by restores. */
export function isExcludedKey(key: string): boolean {
  return SNAPSHOT_EXCLUDED_KEYS.includes(key) || SNAPSHOT_EXCLUDED_PREFIXES.some((p) => key.startsWith(p));
}

/** A key and its value, or its deletion (incremental snapshots only), with the revision that left it so. */
export type SnapshotEntry =
  { key: string; modRevision: number; value: unknown } | { key: string; modRevision: number; deleted: true };

/**
 * A snapshot document, as written to a file (JSON). A full snapshot holds
 * every key with a value; an incremental one holds the keys written or
 * deleted after `since`, which is the `revision` of the snapshot before it.
 */
export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  kind: 'full' | 'incremental';
  /** The store's cluster id: snapshots of different clusters never chain. */
  clusterId: string;
  /** 0 for a full snapshot. */
  since: number;
  /** The store's revision when the snapshot was taken. */
  revision: number;
  /** When it was taken, ISO 8601; for people: a restore does not depend on it. */
  createdAt: string;
  /** Sorted by key, each key once. */
  entries: SnapshotEntry[];
  /** `sha256:<hex>` of the canonical JSON (RFC 8785) of the document without this field. */
  checksum: string;
}

/** The checksum of `doc`: every field but `checksum` counts, in any key order. */
export function snapshotChecksum(doc: object): string {
  const { checksum: _ignored, ...rest } = doc as { checksum?: unknown };
  return `sha256:${createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex')}`;
}
