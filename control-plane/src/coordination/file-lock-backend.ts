import type { Clock, Logger } from '@meshlet/shared';
import type { Store } from '../store/store.js';
import {
  asLockRecord,
  type HeldLock,
  type LockBackend,
  type LockChange,
  type LockRecord,
  type ReleaseNote,
} from './lock-backend.js';
import { type LockTimers, processTimers } from './lock-timers.js';

/**
 * Locks in the embedded file store, for a single control plane. The store
 * has one writer and its writes are serial and crash-safe: `writeIf(key,
 * value, 0)` takes a free lock and its revision is the token, a release
 * deletes the key on that revision. Leases are timers here, in memory: a
 * renew moves the deadline and writes nothing.
 *
 * After a restart, every lock found in the store gets a fresh full TTL from
 * when the control plane is back: never shorter than what its holder
 * believes (the holder counts from when it sent its last acquire or renew,
 * before the restart), at the cost of a lock of a holder that died meanwhile
 * staying held up to one TTL longer (the release triggers give its agent
 * that long to reconnect too: see `ReleaseTriggers`). A freed lock leaves no
 * tombstone in the store (`EPHEMERAL_PREFIXES`).
 */
export class FileLockBackend implements LockBackend {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #timers: LockTimers;
  readonly #log: Logger | undefined;
  readonly #deadlines = new Map<string, { at: number; handle: unknown }>();
  readonly #listeners = new Set<(change: LockChange) => void>();

  constructor(options: { store: Store; clock: Clock; timers?: LockTimers; log?: Logger }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#timers = options.timers ?? processTimers;
    this.#log = options.log;
  }

  async open(): Promise<void> {
    for (const held of this.list('coord/')) this.#arm(held.key, held.token, held.record.ttlMs);
  }

  read(key: string): HeldLock | undefined {
    const record = asLockRecord(this.#store.get(key));
    const token = this.#store.modRevision(key);
    return record && token !== undefined ? { key, record, token } : undefined;
  }

  async readLatest(key: string): Promise<HeldLock | undefined> {
    return this.read(key);
  }

  list(prefix: string): HeldLock[] {
    return this.#store.keys(prefix).flatMap((key) => this.read(key) ?? []);
  }

  async acquire(key: string, record: LockRecord): Promise<number | undefined> {
    const held = this.#store.modRevision(key) !== undefined;
    try {
      const token = await this.#store.writeIf(key, record, 0);
      if (token !== undefined) this.#arm(key, token, record.ttlMs);
      return token;
    } catch (e) {
      // The file could not be written, but the store holds the value in memory from now on: give it a lease
      // anyway, so that it lapses rather than staying held by a holder that was told the acquire failed.
      const token = this.#store.modRevision(key);
      if (!held && token !== undefined) this.#arm(key, token, record.ttlMs);
      throw e;
    }
  }

  async renew(key: string, token: number, ttlMs: number): Promise<boolean> {
    if (this.#store.modRevision(key) !== token) return false;
    this.#arm(key, token, ttlMs);
    return true;
  }

  async release(key: string, token: number, note: ReleaseNote): Promise<number | undefined> {
    try {
      const revision = await this.#store.writeIf(key, undefined, token);
      if (revision !== undefined) this.#disarm(key);
      return revision;
    } catch (e) {
      // The file could not be written, but the store deleted the key in memory: the lock is free from now on
      // (the next write that succeeds carries the deletion). Announce it, or nobody would hear of it.
      this.#freedInMemory(key, token, note.reason);
      throw e;
    }
  }

  onChange(listener: (change: LockChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const key of [...this.#deadlines.keys()]) this.#disarm(key);
  }

  #arm(key: string, token: number, ttlMs: number): void {
    this.#disarm(key);
    const at = this.#clock() + ttlMs;
    const handle = this.#timers.set(() => void this.#lapse(key, token, at), ttlMs);
    this.#deadlines.set(key, { at, handle });
  }

  #disarm(key: string): void {
    const d = this.#deadlines.get(key);
    if (d) this.#timers.clear(d.handle);
    this.#deadlines.delete(key);
  }

  /** A lease ran out: the lock goes, unless it was renewed (a later deadline) or changed hands meanwhile. */
  async #lapse(key: string, token: number, at: number): Promise<void> {
    if (this.#deadlines.get(key)?.at !== at) return;
    this.#deadlines.delete(key);
    try {
      const revision = await this.#store.writeIf(key, undefined, token);
      if (revision === undefined) return;
      for (const l of this.#listeners) l({ key, now: undefined, revision, released: { token, reason: 'expired' } });
    } catch (e) {
      // The file could not be written, but the store deleted the key in memory: the lock is free from now on
      // (served as free, the deletion on disk with the next write that succeeds). Announce it.
      this.#log?.error({ key, err: e }, 'coordination: could not write the expiry of a lock to disk');
      this.#freedInMemory(key, token, 'expired');
    }
  }

  /**
   * After a failed write: if the store's memory no longer has the lock of
   * `token`, tells the listeners it is free. (Should the control plane die
   * before any later write reaches the disk, the lock comes back held after
   * the restart, with no holder renewing it: it lapses in one TTL.)
   */
  #freedInMemory(key: string, token: number, reason: ReleaseNote['reason'] | 'expired'): void {
    if (this.#store.modRevision(key) !== undefined) return;
    this.#disarm(key);
    const revision = this.#store.revision();
    for (const l of this.#listeners) l({ key, now: undefined, revision, released: { token, reason } });
  }
}
