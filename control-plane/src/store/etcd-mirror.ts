import type { StoreChange } from './store.js';

/** One key-value of etcd as the mirror needs it: the full key, the raw value, the revision that last changed it. */
export interface MirrorKv {
  key: string;
  value: string;
  modRevision: number;
}

/** Which logical key (if any) a raw change touched, for change listeners. */
export type MirrorChange = string | undefined;

const byKey = (a: StoreChange, b: StoreChange) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The in-memory copy of everything an {@link EtcdStore} keeps under its
 * prefix: `data/<key>` (JSON values), `tombstones/<key>` and `cluster-id`.
 *
 * Changes reach it from three sources in no guaranteed order: the responses of
 * this replica's own transactions, the watch, and a re-list after the watch
 * was lost. So every change carries its etcd revision and is applied only when
 * it is newer than what the mirror holds for that key. A put and a delete of
 * the same key write the data key and the tombstone in one transaction, so the
 * newer of the two wins: a late watch event putting a value older than the
 * key's tombstone (or a tombstone older than the value) is ignored.
 */
export class EtcdMirror {
  readonly #dataPrefix: string;
  readonly #tombstonePrefix: string;
  readonly #clusterIdKey: string;
  readonly #data = new Map<string, { value: unknown; modRevision: number }>();
  readonly #tombstones = new Map<string, number>();
  /** Ephemeral keys this replica deleted (no tombstone in etcd), at which revision: until the watch passes it. */
  readonly #gone = new Map<string, number>();
  #clusterId: string | undefined;
  #revision = 0;

  constructor(prefix: string) {
    this.#dataPrefix = `${prefix}data/`;
    this.#tombstonePrefix = `${prefix}tombstones/`;
    this.#clusterIdKey = `${prefix}cluster-id`;
  }

  /** The etcd key holding `key`'s value. */
  dataKey(key: string): string {
    return this.#dataPrefix + key;
  }

  /** The etcd key holding `key`'s tombstone. */
  tombstoneKey(key: string): string {
    return this.#tombstonePrefix + key;
  }

  /** The etcd key holding the cluster id. */
  get clusterIdKey(): string {
    return this.#clusterIdKey;
  }

  /** Raises the last seen etcd revision (never lowers it). */
  seen(revision: number): void {
    if (revision > this.#revision) this.#revision = revision;
  }

  /** Applies a put seen in etcd; returns the logical key when the mirror changed. Throws when a data value is not JSON. */
  put(kv: MirrorKv): MirrorChange {
    this.seen(kv.modRevision);
    if (kv.key === this.#clusterIdKey) {
      this.#clusterId = kv.value;
      return undefined;
    }
    const key = this.#logical(kv.key, this.#dataPrefix);
    if (key !== undefined) {
      if (
        (this.#data.get(key)?.modRevision ?? 0) >= kv.modRevision ||
        (this.#tombstones.get(key) ?? 0) > kv.modRevision ||
        (this.#gone.get(key) ?? 0) > kv.modRevision
      )
        return undefined;
      this.#data.set(key, { value: JSON.parse(kv.value) as unknown, modRevision: kv.modRevision });
      if ((this.#tombstones.get(key) ?? Infinity) < kv.modRevision) this.#tombstones.delete(key);
      return key;
    }
    const dead = this.#logical(kv.key, this.#tombstonePrefix);
    if (dead !== undefined) {
      if (
        (this.#tombstones.get(dead) ?? 0) >= kv.modRevision ||
        (this.#data.get(dead)?.modRevision ?? 0) > kv.modRevision
      )
        return undefined;
      this.#tombstones.set(dead, kv.modRevision);
      if ((this.#data.get(dead)?.modRevision ?? Infinity) < kv.modRevision) this.#data.delete(dead);
      return dead;
    }
    return undefined;
  }

  /** Applies the deletion of `rawKey` at `revision`; returns the logical key when the mirror changed. */
  delete(rawKey: string, revision: number): MirrorChange {
    this.seen(revision);
    const key = this.#logical(rawKey, this.#dataPrefix);
    if (key !== undefined) {
      const had = this.#data.get(key);
      if (had === undefined || had.modRevision >= revision) return undefined;
      this.#data.delete(key);
      return key;
    }
    const dead = this.#logical(rawKey, this.#tombstonePrefix);
    if (dead !== undefined) {
      const had = this.#tombstones.get(dead);
      if (had === undefined || had >= revision) return undefined;
      this.#tombstones.delete(dead);
      return dead;
    }
    return undefined;
  }

  /**
   * This replica deleted `key` at `revision` without a tombstone (an
   * ephemeral key: see `EPHEMERAL_PREFIXES`): a put older than that which
   * the watch brings late is ignored until the watch has passed `revision`
   * ({@link watched}), so the memory of it does not grow with every name.
   */
  deleted(key: string, revision: number): MirrorChange {
    this.seen(revision);
    const had = this.#data.get(key);
    if (had !== undefined && had.modRevision >= revision) return undefined;
    this.#data.delete(key);
    this.#gone.set(key, revision);
    return key;
  }

  /** The watch (or a listing) has brought every change up to `revision`: no older event can come. */
  watched(revision: number): void {
    this.seen(revision);
    for (const [key, rev] of this.#gone) if (rev <= revision) this.#gone.delete(key);
  }

  /**
   * Applies a full listing of the prefix taken at `revision`: every key in it
   * is applied as a put, and every key the mirror holds from at or before
   * `revision` that the listing lacks was deleted meanwhile. Changes newer
   * than the listing (this replica's own writes made during it) stay.
   */
  resync(kvs: readonly MirrorKv[], revision: number, onError: (kv: MirrorKv, e: unknown) => void): Set<string> {
    const changed = new Set<string>();
    const listed = new Set<string>();
    for (const kv of kvs) {
      listed.add(kv.key);
      try {
        const key = this.put(kv);
        if (key !== undefined) changed.add(key);
      } catch (e) {
        onError(kv, e);
      }
    }
    for (const [key, { modRevision }] of [...this.#data]) {
      if (modRevision <= revision && !listed.has(this.dataKey(key))) {
        this.#data.delete(key);
        changed.add(key);
      }
    }
    for (const [key, rev] of [...this.#tombstones]) {
      if (rev <= revision && !listed.has(this.tombstoneKey(key))) {
        this.#tombstones.delete(key);
        changed.add(key);
      }
    }
    this.seen(revision);
    return changed;
  }

  get(key: string): unknown {
    return this.#data.get(key)?.value;
  }

  modRevision(key: string): number | undefined {
    return this.#data.get(key)?.modRevision;
  }

  keys(prefix: string): string[] {
    return [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  changesSince(revision: number): StoreChange[] {
    const out: StoreChange[] = [];
    for (const [key, { value, modRevision }] of this.#data)
      if (modRevision > revision) out.push({ key, modRevision, value });
    if (revision > 0)
      for (const [key, rev] of this.#tombstones) if (rev > revision) out.push({ key, modRevision: rev, deleted: true });
    return out.sort(byKey);
  }

  revision(): number {
    return this.#revision;
  }

  clusterId(): string | undefined {
    return this.#clusterId;
  }

  #logical(rawKey: string, prefix: string): string | undefined {
    return rawKey.startsWith(prefix) ? rawKey.slice(prefix.length) : undefined;
  }
}
