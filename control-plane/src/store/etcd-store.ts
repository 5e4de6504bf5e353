import { randomUUID } from 'node:crypto';
import { type Logger, MeshletError, type RandomSource } from '@meshlet/shared';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
  type IKeyValue,
  type Watcher,
} from 'etcd3';
import { ControlPlaneErrorCodes } from '../errors.js';
import { EtcdMirror, type MirrorKv } from './etcd-mirror.js';
import { etcdClientOptions } from './etcd-client-options.js';
import { within } from './within.js';
import { isEphemeralKey, type Store, type StoreChange } from './store.js';

/** Options of {@link EtcdStore}. */
export interface EtcdStoreOptions extends EtcdSecurity {
  /** Client URLs of the etcd members, such as `http://10.0.0.1:2379`. */
  endpoints: string[];
  /** Every key of this control plane lives under it; several meshlet clusters can share one etcd. Default `/meshlet/`. */
  prefix?: string;
  /** How long connecting to a member may take. Default 3000 ms. */
  dialTimeoutMs?: number;
  /**
   * How long a request (a write above all) may take before it fails. etcd
   * itself waits about 5 s plus two election timeouts before it gives up on a
   * proposal it cannot commit; the control plane must answer its caller
   * sooner. Default 3000 ms.
   */
  requestTimeoutMs?: number;
  log?: Logger;
  /** Jitter of the watch's reconnect delays; `Math.random` by default. */
  random?: RandomSource;
}

/** How a replica proves itself to etcd, from `store.etcd.tls`, `username` and `passwordFile` (see `etcdSecurity`). */
export interface EtcdSecurity {
  /** TLS to the members: the CA that signed them (default the system's roots) and a client certificate for `--client-cert-auth`. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** An etcd user, when etcd's auth is enabled. */
  auth?: { username: string; password: string };
}

/** A comparison on a data key that a write transaction needs to hold: `Version > -1` (always), `Version > 0` (present), `Mod == n` (unchanged since n). */
type Compare = ['Version' | 'Mod', '>' | '==', number];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kv = (k: IKeyValue): MirrorKv => ({
  key: k.key.toString('utf8'),
  value: k.value.toString('utf8'),
  modRevision: Number(k.mod_revision),
});

/**
 * The store of a highly available control plane: the same contract as the
 * file store, kept in etcd so that several replicas share it. The revision is
 * etcd's, and a key's `modRevision` is the `mod_revision` of its data key, so
 * a resource version means what it means in Kubernetes.
 *
 * The {@link Store} reads are synchronous, so the store mirrors its whole
 * prefix in memory: `open()` lists it and watches it from the next revision,
 * and writes made by other replicas reach the mirror through the watch
 * ({@link onChange} tells about them). Writes go to etcd as transactions and
 * update the mirror from the response, so a read right after a write sees it.
 * When etcd cannot commit (quorum lost), writes fail with
 * `MESHLET_STORE_UNAVAILABLE` after `requestTimeoutMs` while reads keep
 * answering from the mirror.
 */
export class EtcdStore implements Store {
  readonly #endpoints: string[];
  readonly #prefix: string;
  readonly #requestTimeoutMs: number;
  readonly #log: Logger | undefined;
  readonly #security: { tls: boolean; auth: boolean };
  readonly #client: Etcd3;
  readonly #mirror: EtcdMirror;
  readonly #listeners = new Set<(key: string, revision: number) => void>();
  #watcher: Watcher | undefined;
  #resyncing: Promise<void> | undefined;
  #closed = false;

  constructor(options: EtcdStoreOptions) {
    this.#endpoints = [...options.endpoints];
    this.#prefix = options.prefix ?? '/meshlet/';
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3_000;
    this.#log = options.log;
    this.#mirror = new EtcdMirror(this.#prefix);
    this.#client = new Etcd3(etcdClientOptions(this.#endpoints, this.#requestTimeoutMs, options));
    this.#security = { tls: options.tls !== undefined, auth: options.auth !== undefined };
  }

  async open(): Promise<void> {
    try {
      // Create-if-absent: the first replica to open an empty etcd names the cluster, the others read its id.
      await this.#client
        .if(this.#mirror.clusterIdKey, 'Version', '==', 0)
        .then(this.#client.put(this.#mirror.clusterIdKey).value(randomUUID()))
        .commit();
      await this.#relist();
    } catch (e) {
      throw this.#unavailable('cannot be read', e);
    }
  }

  /** The etcd client, shared with the replica link (leadership, registrations). */
  get client(): Etcd3 {
    return this.#client;
  }

  /** The key prefix of this control plane in etcd. */
  get prefix(): string {
    return this.#prefix;
  }

  /** How long a request may take (the replica link bounds its own by it too). */
  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  get<T>(key: string): T | undefined {
    return this.#mirror.get(key) as T | undefined;
  }

  modRevision(key: string): number | undefined {
    return this.#mirror.modRevision(key);
  }

  async put(key: string, value: unknown): Promise<number> {
    // etcd3 starts a transaction with a comparison; `Version > -1` holds for every key, present or not.
    return (await this.#set(key, value, ['Version', '>', -1])) as number;
  }

  /**
   * The tombstone is written in the transaction that deletes the value; its
   * `mod_revision` is the deletion's revision (a transaction cannot know its
   * own revision before it commits), and its value is the revision the
   * deleted value had, for whoever reads etcd by hand.
   */
  async delete(key: string): Promise<number> {
    return (await this.#remove(key, String(this.#mirror.modRevision(key) ?? ''), ['Version', '>', 0])).revision;
  }

  async writeIf(key: string, value: unknown, modRevision: number): Promise<number | undefined> {
    // An absent key compares with a mod_revision of 0, as in etcd.
    const compare: Compare = ['Mod', '==', modRevision];
    if (value !== undefined) return this.#set(key, value, compare);
    // Nothing to delete at 0 (and `Mod == 0` would hold for the absent key, leaving a stray tombstone).
    if (modRevision === 0) return undefined;
    const { revision, done } = await this.#remove(key, String(modRevision), compare);
    return done ? revision : undefined;
  }

  /**
   * Like `writeIf(key, value, 0)`, with the value bound to the etcd lease
   * `lease` (decimal id): etcd deletes it when the lease lapses or is revoked,
   * and the watch then tells {@link onChange} (application locks).
   */
  async createLeased(key: string, value: unknown, lease: string): Promise<number | undefined> {
    return this.#set(key, value, ['Mod', '==', 0], lease);
  }

  /** Like `writeIf(key, undefined, modRevision)`, also writing `note` under `noteKey` (bound to `noteLease`) in the same transaction. */
  async deleteIfNoting(
    key: string,
    modRevision: number,
    noteKey: string,
    note: unknown,
    noteLease?: string,
  ): Promise<number | undefined> {
    const also = { key: this.#mirror.dataKey(noteKey), value: JSON.stringify(note), lease: noteLease };
    const { revision, done } = await this.#remove(key, String(modRevision), ['Mod', '==', modRevision], also);
    return done ? revision : undefined;
  }

  /** Writes `value` and drops the key's tombstone when `compare` holds on its data key; the revision, or undefined when it did not hold. */
  async #set(key: string, value: unknown, [field, op, than]: Compare, lease?: string): Promise<number | undefined> {
    const data = this.#mirror.dataKey(key);
    const tombstone = this.#mirror.tombstoneKey(key);
    const json = JSON.stringify(value);
    const put = (c: Etcd3) => (lease === undefined ? c.put(data).value(json) : c.put(data).value(json).lease(lease));
    const res = await this.#txn((c) => c.if(data, field, op, than).then(put(c), c.delete().key(tombstone)));
    const revision = Number(res.header.revision);
    this.#mirror.seen(revision);
    if (!res.succeeded) return undefined;
    this.#mirror.put({ key: data, value: json, modRevision: revision });
    this.#mirror.delete(tombstone, revision);
    return revision;
  }

  /** Deletes the value and writes its tombstone (holding `before`; none for an ephemeral key) when `compare` holds on its data key. */
  async #remove(
    key: string,
    before: string,
    [field, op, than]: Compare,
    also?: { key: string; value: string; lease?: string | undefined },
  ): Promise<{ revision: number; done: boolean }> {
    const data = this.#mirror.dataKey(key);
    const tombstone = this.#mirror.tombstoneKey(key);
    const ephemeral = isEphemeralKey(key);
    const res = await this.#txn((c) => {
      const ops = [c.delete().key(data), ...(ephemeral ? [] : [c.put(tombstone).value(before)])];
      const note = also && c.put(also.key).value(also.value);
      return c.if(data, field, op, than).then(...ops, ...(note ? [also?.lease ? note.lease(also.lease) : note] : []));
    });
    const revision = Number(res.header.revision);
    this.#mirror.seen(revision);
    if (res.succeeded && ephemeral) this.#mirror.deleted(key, revision);
    else if (res.succeeded) this.#mirror.put({ key: tombstone, value: before, modRevision: revision });
    if (res.succeeded && also) this.#mirror.put({ key: also.key, value: also.value, modRevision: revision });
    return { revision, done: res.succeeded };
  }

  keys(prefix = ''): string[] {
    return this.#mirror.keys(prefix);
  }

  changesSince(revision: number): StoreChange[] {
    return this.#mirror.changesSince(revision);
  }

  revision(): number {
    return this.#mirror.revision();
  }

  /** The `cluster` key's id when the control plane has set it (a restore brings the backup's), else the one made at the first open. */
  clusterId(): string {
    const c = this.#mirror.get('cluster');
    return isRecord(c) && typeof c.id === 'string' && c.id.length > 0 ? c.id : (this.#mirror.clusterId() ?? '');
  }

  /**
   * Calls `listener` with the key of each change the watch brought, and the
   * revision of that change (of a re-listing: the listing's): writes and
   * deletions by other replicas (and, when the watch outruns a response,
   * this replica's own). Returns a function that removes it.
   */
  onChange(listener: (key: string, revision: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#resyncing?.catch(() => undefined);
    await this.#watcher?.cancel().catch(() => undefined);
    this.#client.close();
  }

  /** Runs one write transaction within `requestTimeoutMs` across etcd3's retries, mapping any failure to MESHLET_STORE_UNAVAILABLE. */
  async #txn(build: (c: Etcd3) => ReturnType<Etcd3['if']>) {
    try {
      return await within(
        build(this.#client).commit(),
        this.#requestTimeoutMs,
        `no answer within ${this.#requestTimeoutMs} ms`,
      );
    } catch (e) {
      throw this.#unavailable('cannot commit writes', e);
    }
  }

  #unavailable(what: string, e: unknown): MeshletError {
    const reason = (e as Error).message ?? String(e);
    const refused = this.#refusal(e, reason);
    return new MeshletError(
      ControlPlaneErrorCodes.STORE_UNAVAILABLE,
      refused ??
        `the etcd cluster at ${this.#endpoints.join(', ')} ${what} (${reason}); the control plane keeps serving from memory; writes resume when a quorum is back` +
          (what === 'cannot commit writes'
            ? ' (a write that timed out may still apply then: read before retrying)'
            : ''),
      { cause: e },
    );
  }

  /** etcd turned the replica away (credentials, permissions, TLS) rather than failing to answer: the message names the settings to fix. */
  #refusal(e: unknown, reason: string): string | undefined {
    const at = `the etcd cluster at ${this.#endpoints.join(', ')}`;
    if (
      e instanceof EtcdAuthenticationFailedError ||
      e instanceof EtcdUserNotFoundError ||
      /authentication failed|invalid username or password/i.test(reason)
    ) {
      return `${at} refused the user (${reason}). Fix: check store.etcd.username and the password in store.etcd.passwordFile`;
    }
    if (e instanceof EtcdPermissionDeniedError || /permission denied/i.test(reason)) {
      return (
        `${at} denied access (${reason}). Fix: ` +
        (this.#security.auth
          ? `grant store.etcd.username's role readwrite on the prefix ${this.#prefix} (etcdctl role grant-permission <role> --prefix=true readwrite ${this.#prefix})`
          : 'etcd has auth enabled: set store.etcd.username and store.etcd.passwordFile')
      );
    }
    if (/user name is empty|user name not found|auth.*token/i.test(reason) && !this.#security.auth) {
      return `${at} needs a user (${reason}). Fix: set store.etcd.username and store.etcd.passwordFile`;
    }
    if (/certificate|ssl|tls|handshake|wrong version number/i.test(reason)) {
      return this.#security.tls
        ? `${at} cannot be reached over TLS (${reason}). Fix: check store.etcd.tls.caFile (the CA of the members' certificates) and, when etcd checks clients, store.etcd.tls.certFile and keyFile`
        : `${at} cannot be reached (${reason}). Fix: for etcd with TLS use https:// endpoints and set store.etcd.tls.caFile, plus certFile and keyFile when etcd checks clients`;
    }
    return undefined;
  }

  /**
   * Lists the prefix and watches it from the revision after the listing. The
   * watch resumes on its own after a dropped connection (etcd3 restarts it at
   * the last revision it saw); only when etcd cancels it, as when that
   * revision was compacted away, is the prefix listed again.
   */
  async #relist(): Promise<void> {
    const res = await this.#client.getAll().prefix(this.#prefix).exec();
    const revision = Number(res.header.revision);
    const changed = this.#mirror.resync(res.kvs.map(kv), revision, (bad, e) =>
      this.#log?.warn({ key: bad.key, err: e }, 'etcd store: a value under the prefix is not JSON; ignored'),
    );
    this.#mirror.watched(revision);
    this.#notify(new Map([...changed].map((k) => [k, revision])));
    if (this.#closed) return;
    const watcher = await this.#client
      .watch()
      .prefix(this.#prefix)
      .startRevision(String(revision + 1))
      .create();
    if (this.#closed) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    // One watch response holds a whole transaction (a deletion and its tombstone): one call per key for it.
    watcher.on('data', (r) => {
      const changed = new Map<string, number>();
      for (const ev of r.events) {
        try {
          const revision = Number(ev.kv.mod_revision);
          const key =
            ev.type === 'Put' ? this.#mirror.put(kv(ev.kv)) : this.#mirror.delete(ev.kv.key.toString('utf8'), revision);
          if (key !== undefined) changed.set(key, revision);
        } catch (e) {
          this.#log?.warn(
            { key: ev.kv.key.toString('utf8'), err: e },
            'etcd store: a value under the prefix is not JSON; ignored',
          );
        }
      }
      this.#mirror.seen(Number(r.header.revision));
      // Watch events come in revision order: nothing older than the last of these can come any more.
      const last = r.events.at(-1);
      if (last) this.#mirror.watched(Number(last.kv.mod_revision));
      this.#notify(changed);
    });
    watcher.on('disconnected', (e) => this.#log?.warn({ err: e }, 'etcd store: watch lost; reconnecting'));
    watcher.on('connected', () => this.#log?.info('etcd store: watch connected'));
    watcher.on('error', (e) => {
      this.#log?.warn({ err: e }, 'etcd store: watch cancelled by etcd; listing the prefix again');
      this.#resync();
    });
  }

  #resync(): void {
    if (this.#closed || this.#resyncing) return;
    this.#watcher = undefined;
    const attempt = (): Promise<void> =>
      this.#relist().catch((e: unknown) => {
        if (this.#closed) return;
        this.#log?.warn({ err: e }, 'etcd store: listing the prefix failed; trying again');
        return new Promise((r) => setTimeout(r, 1_000).unref()).then(attempt);
      });
    this.#resyncing = attempt().finally(() => (this.#resyncing = undefined));
  }

  #notify(keys: ReadonlyMap<string, number>): void {
    for (const [key, revision] of keys) {
      for (const listener of this.#listeners) {
        try {
          listener(key, revision);
        } catch (e) {
          this.#log?.error({ key, err: e }, 'etcd store: a change listener threw');
        }
      }
    }
  }
}
