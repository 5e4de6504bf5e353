/** One key of the store as a backup sees it: its value, or its deletion, and the revision that last changed it. */
export interface StoreChange {
  key: string;
  /** The revision of the write (or deletion) that left the key as it is. */
  modRevision: number;
  /** Absent when the key was deleted. */
  value?: unknown;
  deleted?: true;
}

/**
 * Where the control plane keeps what must survive a restart. The embedded
 * file store is the default; the etcd store implements the same interface
 * for several replicas. Like etcd, every write gets the next revision of the
 * whole store, and each key remembers the revision that last changed it (its
 * `modRevision`, which is also its resource version); deleted keys leave a
 * tombstone, so that an incremental backup can carry deletions.
 */
export interface Store {
  /** Loads the persisted state; call once before any other method. */
  open(): Promise<void>;
  /** The value under `key`, or `undefined`. */
  get<T>(key: string): T | undefined;
  /** The revision that last wrote `key`, or `undefined` when it has no value. */
  modRevision(key: string): number | undefined;
  /** Stores `value` under `key` durably; resolves once it is on disk. Returns the new revision. */
  put(key: string, value: unknown): Promise<number>;
  /** Deletes `key` durably (a no-op without a new revision when it has no value). Returns the store's revision. */
  delete(key: string): Promise<number>;
  /**
   * Optimistic concurrency: like {@link put} (a `value` of `undefined`: like
   * {@link delete}), but only if `key` was last written at `modRevision` (0:
   * it has no value), checked where the data lives, so that two replicas
   * cannot both win. Resolves with the new revision, or `undefined` when the
   * key has moved on (or, for a delete at 0, has no value to delete).
   */
  writeIf(key: string, value: unknown, modRevision: number): Promise<number | undefined>;
  /** Keys with a value, sorted, optionally only those starting with `prefix`. */
  keys(prefix?: string): string[];
  /** Every key written or deleted after `revision` (0: everything, deletions included), sorted by key. */
  changesSince(revision: number): StoreChange[];
  /** The revision of the last write, 0 for an empty store. */
  revision(): number;
  /** A random id made when the store was first created; backups carry it so that a foreign one can be told apart. */
  clusterId(): string;
  /**
   * Calls `listener` with the key of each change made by someone else (another
   * replica sharing the store), and returns a function that removes it. Only
   * a shared store has it: the file store has a single writer.
   */
  onChange?(listener: (key: string, revision: number) => void): () => void;
  /** Waits for pending writes. */
  close(): Promise<void>;
}

/**
 * Prefixes of keys whose deletion leaves no tombstone: application locks and
 * their release notes come and go by the thousand (every name ever released
 * would otherwise stay in the store), and no backup carries them
 * (`SNAPSHOT_EXCLUDED_PREFIXES`), so no incremental backup needs their
 * deletions. Nor does a change to them touch policies or routing tables.
 */
export const EPHEMERAL_PREFIXES: readonly string[] = Object.freeze(['coord/', 'coord-note/']);

/** Whether `key` is under {@link EPHEMERAL_PREFIXES}. */
export function isEphemeralKey(key: string): boolean {
  return EPHEMERAL_PREFIXES.some((p) => key.startsWith(p));
}

/** {@link Store.writeIf} for a store with one writer, whose own copy is the truth (the file store). */
export async function writeIfCurrent(
  store: Store,
  key: string,
  value: unknown,
  modRevision: number,
): Promise<number | undefined> {
  if ((store.modRevision(key) ?? 0) !== modRevision) return undefined;
  if (value !== undefined) return store.put(key, value);
  return modRevision === 0 ? undefined : store.delete(key);
}
