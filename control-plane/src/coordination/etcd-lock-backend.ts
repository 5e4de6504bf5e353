import { type Logger, MeshletError } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { EtcdStore } from '../store/etcd-store.js';
import { within } from '../store/within.js';
import {
  asLockRecord,
  type HeldLock,
  type LockBackend,
  type LockChange,
  type LockRecord,
  type ReleaseNote,
} from './lock-backend.js';

/** What a release leaves beside the lock, for the other replicas: which token went, and why. */
interface StoredNote extends ReleaseNote {
  token: number;
}

const noteKey = (key: string) => `coord-note/${key.slice('coord/'.length)}`;

/**
 * Locks in etcd, for replicas: one etcd lease per acquire (TTL the lock's,
 * rounded up to whole seconds), and a transaction that puts the key bound to
 * it only if the key does not exist (`mod_revision == 0`), so that etcd
 * itself decides between two replicas. The token is that put's revision (the
 * key's create revision); a renew is a keep-alive of the lease, then a
 * linearizable read that the key still holds that token; a release is a
 * transaction on the token's revision, then the lease's revocation. Any
 * replica serves any operation: the lease id is stored with the holder.
 *
 * A lease that lapses (its holder stopped renewing, or its replica died) is
 * etcd's to end: the key goes with it, and every replica learns of it
 * through the store's watch ({@link onChange}).
 */
export class EtcdLockBackend implements LockBackend {
  readonly #store: EtcdStore;
  readonly #log: Logger | undefined;
  readonly #listeners = new Set<(change: LockChange) => void>();
  #unwatch: (() => void) | undefined;

  constructor(options: { store: EtcdStore; log?: Logger }) {
    this.#store = options.store;
    this.#log = options.log;
  }

  async open(): Promise<void> {
    this.#unwatch = this.#store.onChange((key) => {
      if (!key.startsWith('coord/')) return;
      const note = this.#store.get<StoredNote>(noteKey(key));
      const change: LockChange = { key, now: this.read(key), revision: this.#store.revision() };
      if (change.now === undefined && note !== undefined) {
        change.released = { token: note.token, reason: note.reason, ...(note.by ? { by: note.by } : {}) };
      }
      for (const l of this.#listeners) l(change);
    });
  }

  read(key: string): HeldLock | undefined {
    const record = asLockRecord(this.#store.get(key));
    const token = this.#store.modRevision(key);
    return record && token !== undefined ? { key, record, token } : undefined;
  }

  /** A linearizable read from etcd itself, for when this replica's copy may be behind. */
  async readLatest(key: string): Promise<HeldLock | undefined> {
    const res = await this.#call(this.#store.client.get(this.#dataKey(key)).exec(), 'read a lock');
    const kv = res.kvs[0];
    if (!kv) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString('utf8'));
    } catch {
      return undefined;
    }
    const record = asLockRecord(value);
    return record ? { key, record, token: Number(kv.mod_revision) } : undefined;
  }

  list(prefix: string): HeldLock[] {
    return this.#store.keys(prefix).flatMap((key) => this.read(key) ?? []);
  }

  async acquire(key: string, record: LockRecord): Promise<number | undefined> {
    // Held as far as this replica knows: no lease granted for nothing (the transaction decides anyway).
    if (this.read(key) !== undefined) return undefined;
    const ttl = Math.ceil(record.ttlMs / 1000);
    const grant = await this.#call(this.#store.client.leaseClient.leaseGrant({ TTL: ttl }), 'grant a lease');
    const lease = String(grant.ID);
    let token: number | undefined;
    try {
      token = await this.#store.createLeased(key, { ...record, lease }, lease);
    } finally {
      if (token === undefined) void this.#revoke(lease);
    }
    return token;
  }

  async renew(key: string, token: number, _ttlMs: number): Promise<boolean> {
    const mirrored = this.read(key);
    const held = mirrored?.token === token ? mirrored : await this.readLatest(key);
    if (held?.token !== token || held.record.lease === undefined) return false;
    const alive = await this.#call(this.#keepAliveOnce(held.record.lease), 'renew a lease');
    if (!alive) return false;
    // The lease lives on; the key must too, with the same token (a release may have come between).
    return (await this.readLatest(key))?.token === token;
  }

  async release(key: string, token: number, note: ReleaseNote): Promise<number | undefined> {
    const mirrored = this.read(key);
    const lease = (mirrored?.token === token ? mirrored : await this.readLatest(key))?.record.lease;
    const stored: StoredNote = { ...note, token };
    const revision = await this.#store.deleteIfNoting(key, token, noteKey(key), stored);
    if (revision !== undefined && lease !== undefined) await this.#revoke(lease);
    return revision;
  }

  onChange(listener: (change: LockChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#unwatch?.();
  }

  #dataKey(key: string): string {
    return `${this.#store.prefix}data/${key}`;
  }

  /** One keep-alive on the lease: whether etcd still has it (a lapsed lease answers with a TTL of 0). */
  async #keepAliveOnce(lease: string): Promise<boolean> {
    const stream = await this.#store.client.leaseClient.leaseKeepAlive();
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.write({ ID: lease });
      });
      return Number(res.TTL) > 0;
    } finally {
      stream.end();
    }
  }

  /** Revokes a lease, logging a failure: it lapses on its own within its TTL anyway. */
  async #revoke(lease: string): Promise<void> {
    try {
      await this.#call(this.#store.client.leaseClient.leaseRevoke({ ID: lease }), 'revoke a lease');
    } catch (e) {
      if (!/lease not found/i.test((e as Error).message))
        this.#log?.warn({ lease, err: e }, 'coordination: could not revoke an etcd lease; it lapses on its own');
    }
  }

  async #call<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.#store.requestTimeoutMs;
    try {
      return await within(p, ms, `no answer within ${ms} ms`);
    } catch (e) {
      throw new MeshletError(
        ControlPlaneErrorCodes.STORE_UNAVAILABLE,
        `the etcd cluster could not ${what} (${(e as Error).message}); retry when a quorum is back`,
        { cause: e },
      );
    }
  }
}
