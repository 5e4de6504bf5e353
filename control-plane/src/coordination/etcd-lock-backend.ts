import { type Clock, type Logger, MeshletError, systemClock } from '@meshlet/shared';
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
import { ACQUIRE_DEADLINE_MS } from './coord-limits.js';

/** What a release leaves beside the lock, for the other replicas: which token went, and why. */
interface StoredNote extends ReleaseNote {
  token: number;
}

const noteKey = (key: string) => `coord-note/${key.slice('coord/'.length)}`;

/**
 * How long a release note lives: the notes of one replica share an etcd
 * lease of {@link NOTE_TTL_S} seconds, used for new notes during its first
 * half, so each note stays 30 to 60 s (long enough for every replica's watch
 * to read it with the deletion it explains) and then goes, whatever number of
 * names were released.
 */
const NOTE_TTL_S = 60;

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
 * through the store's watch ({@link onChange}), at the revision of that
 * deletion. Nothing stays behind a freed name: no tombstone, and the release
 * note lapses within a minute ({@link NOTE_TTL_S}).
 */
export class EtcdLockBackend implements LockBackend {
  readonly #store: EtcdStore;
  readonly #log: Logger | undefined;
  readonly #listeners = new Set<(change: LockChange) => void>();
  readonly #clock: Clock;
  readonly #acquireDeadlineMs: number;
  #unwatch: (() => void) | undefined;
  #noteLease: { id: Promise<string>; until: number } | undefined;

  constructor(options: { store: EtcdStore; log?: Logger; clock?: Clock; acquireDeadlineMs?: number }) {
    this.#store = options.store;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#acquireDeadlineMs = options.acquireDeadlineMs ?? ACQUIRE_DEADLINE_MS;
  }

  async open(): Promise<void> {
    this.#unwatch = this.#store.onChange((key, revision) => {
      if (!key.startsWith('coord/')) return;
      const note = this.#store.get<StoredNote>(noteKey(key));
      // The change's own revision: a free lock announced at the store's newest one could outrank a later token.
      const change: LockChange = { key, now: this.read(key), revision };
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

  /**
   * Grants a lease and puts the key bound to it, within one deadline
   * (`ACQUIRE_DEADLINE_MS`, below the agent's 5 s): past it the acquire
   * fails and the lease is revoked, whenever its grant or the transaction
   * answers, so a grant the agent gave up on never stays held.
   */
  async acquire(key: string, record: LockRecord): Promise<number | undefined> {
    // Held as far as this replica knows: no lease granted for nothing (the transaction decides anyway).
    if (this.read(key) !== undefined) return undefined;
    const ttl = Math.ceil(record.ttlMs / 1000);
    let late = false;
    const attempt = async (): Promise<number | undefined> => {
      const grant = await this.#call(this.#store.client.leaseClient.leaseGrant({ TTL: ttl }), 'grant a lease');
      const lease = String(grant.ID);
      let token: number | undefined;
      try {
        if (!late) token = await this.#store.createLeased(key, { ...record, lease }, lease);
      } finally {
        if (token === undefined || late) void this.#revoke(lease);
      }
      return token;
    };
    const ms = this.#acquireDeadlineMs;
    const pending = attempt();
    try {
      return await this.#call(pending, 'grant a lock', ms);
    } catch (e) {
      late = true;
      pending.catch(() => undefined);
      throw e;
    }
  }

  async renew(key: string, token: number, _ttlMs: number): Promise<boolean> {
    const mirrored = this.read(key);
    const held = mirrored?.token === token ? mirrored : await this.readLatest(key);
    if (held?.token !== token || held.record.lease === undefined) return false;
    const alive = await this.#keepAliveOnce(held.record.lease);
    if (!alive) return false;
    // The lease lives on; the key must too, with the same token (a release may have come between).
    return (await this.readLatest(key))?.token === token;
  }

  async release(key: string, token: number, note: ReleaseNote): Promise<number | undefined> {
    const mirrored = this.read(key);
    const lease = (mirrored?.token === token ? mirrored : await this.readLatest(key))?.record.lease;
    const stored: StoredNote = { ...note, token };
    const remove = async () => this.#store.deleteIfNoting(key, token, noteKey(key), stored, await this.#noteLeaseId());
    let revision: number | undefined;
    try {
      revision = await remove();
    } catch (e) {
      // The notes' lease is gone from etcd (restored from a backup, say): a new one, once.
      if (!/lease not found/i.test((e as Error).message)) throw e;
      this.#noteLease = undefined;
      revision = await remove();
    }
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

  /**
   * One keep-alive on the lease: whether etcd still has it (a lapsed lease
   * answers with a TTL of 0). The stream is ended when the answer comes and
   * also when {@link #call} gives up waiting (a stream opened late is ended
   * as soon as it opens), so a quorum loss leaves no stream behind.
   */
  async #keepAliveOnce(lease: string): Promise<boolean> {
    let done = false;
    let end: (() => void) | undefined;
    const alive = (async () => {
      const stream = await this.#store.client.leaseClient.leaseKeepAlive();
      let ended = false;
      end = () => {
        if (!ended) stream.end();
        ended = true;
      };
      if (done) throw new Error('gave up before the keep-alive stream opened');
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        stream.on('data', resolve);
        stream.on('error', reject);
        stream.write({ ID: lease });
      });
      return Number(res.TTL) > 0;
    })();
    try {
      return await this.#call(alive, 'renew a lease');
    } finally {
      done = true;
      end?.();
      alive.catch(() => undefined).finally(() => end?.());
    }
  }

  /** The lease this replica binds release notes to: granted once, renewed by a new grant past half its TTL. */
  #noteLeaseId(): Promise<string> {
    const now = this.#clock();
    if (this.#noteLease === undefined || now >= this.#noteLease.until) {
      const id = this.#call(this.#store.client.leaseClient.leaseGrant({ TTL: NOTE_TTL_S }), 'grant a lease').then((g) =>
        String(g.ID),
      );
      const entry = { id, until: now + (NOTE_TTL_S * 1000) / 2 };
      this.#noteLease = entry;
      id.catch(() => {
        if (this.#noteLease === entry) this.#noteLease = undefined;
      });
    }
    return this.#noteLease.id;
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

  async #call<T>(p: Promise<T>, what: string, ms = this.#store.requestTimeoutMs): Promise<T> {
    try {
      return await within(p, ms, `no answer within ${ms} ms`);
    } catch (e) {
      if (e instanceof MeshletError) throw e;
      throw new MeshletError(
        ControlPlaneErrorCodes.STORE_UNAVAILABLE,
        `the etcd cluster could not ${what} (${(e as Error).message}); retry when a quorum is back`,
        { cause: e },
      );
    }
  }
}
