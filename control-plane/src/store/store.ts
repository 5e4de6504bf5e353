/**
 * Where the control plane keeps what must survive a restart. The embedded
 * file store is the default; an etcd store will implement the same interface
 * for several replicas.
 */
export interface Store {
  /** Loads the persisted state; call once before any other method. */
  open(): Promise<void>;
  /** The value under `key`, or `undefined`. */
  get<T>(key: string): T | undefined;
  /** Stores `value` under `key` durably; resolves once it is on disk. Returns the new revision. */
  put(key: string, value: unknown): Promise<number>;
  /** The revision of the last write, 0 for an empty store. */
  revision(): number;
  /** Waits for pending writes. */
  close(): Promise<void>;
}
