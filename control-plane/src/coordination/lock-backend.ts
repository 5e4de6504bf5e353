import type { CoordHolder, CoordKind } from '@meshlet/shared';

/** What the store keeps under a held lock's key. The key's revision is the fencing token; renewing never rewrites it. */
export interface LockRecord {
  holder: CoordHolder;
  ttlMs: number;
  releaseOnUnhealthy: boolean;
  /** The etcd lease the key is attached to (decimal), so that any replica can renew or revoke it. */
  lease?: string;
}

/** A held lock as a backend reads it. */
export interface HeldLock {
  key: string;
  record: LockRecord;
  /** The revision of the write that made the holder: the fencing token. */
  token: number;
}

/** A change this control plane learned of rather than made: a lease that lapsed, another replica's write. */
export interface LockChange {
  key: string;
  /** What the key holds now (undefined: free). */
  now: HeldLock | undefined;
  /** A revision at or after the change. */
  revision: number;
  /** When known: which token went, and why (a lapse, or what the releasing replica wrote down). */
  released?: { token: number; reason: ReleaseNote['reason'] | 'expired'; by?: string };
}

/** What a release writes down (another replica reads it to tell its agents why). */
export interface ReleaseNote {
  reason: 'released' | 'unhealthy' | 'disconnected' | 'forced';
  by?: string;
}

/**
 * Where locks live: the control plane's store, with leases. Implementations:
 * {@link FileLockBackend} (a single control plane: expiry timers here) and
 * {@link EtcdLockBackend} (replicas: one etcd lease per acquire). Every
 * method is conditioned on the token where the data lives, so that two
 * writers cannot both win; who may ask is the {@link Coordinator}'s business.
 */
export interface LockBackend {
  /** Starts the expiry timers (file) or nothing (etcd); call once after the store is open. */
  open(): Promise<void>;
  /** The lock under `key`, or undefined when free. */
  read(key: string): HeldLock | undefined;
  /**
   * The lock under `key` as the store has it now, where `read` may lag (a
   * replica's copy behind etcd's watch: an agent that moved replicas right
   * after acquiring). The file store's copy is the truth: the same as `read`.
   */
  readLatest(key: string): Promise<HeldLock | undefined>;
  /** Held locks whose keys start with `prefix`. */
  list(prefix: string): HeldLock[];
  /** Takes the lock if free: its token, or undefined when it is held. */
  acquire(key: string, record: LockRecord): Promise<number | undefined>;
  /** Extends the lease of the holder with `token` by `ttlMs`; false when that holder no longer has it. */
  renew(key: string, token: number, ttlMs: number): Promise<boolean>;
  /** Frees the lock if `token` still holds it: the revision of the release, or undefined. */
  release(key: string, token: number, note: ReleaseNote): Promise<number | undefined>;
  /** Calls `listener` on each change this backend did not make through the methods above (lapses, other replicas). */
  onChange(listener: (change: LockChange) => void): () => void;
  close(): Promise<void>;
}

/** The store key of a lock or election: `coord/<kind>/<service>/<name>`. */
export function coordKey(kind: CoordKind, service: string, name: string): string {
  return `coord/${kind}/${service}/${name}`;
}

/** The kind, service and name of a store key made by {@link coordKey}, or undefined for another key. */
export function parseCoordKey(key: string): { kind: CoordKind; service: string; name: string } | undefined {
  const m = /^coord\/(lock|election)\/([^/]+)\/([^/]+)$/.exec(key);
  return m ? { kind: m[1] as CoordKind, service: m[2] as string, name: m[3] as string } : undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A stored value read back as a {@link LockRecord}, or undefined when it is not one (hand-edited, foreign). */
export function asLockRecord(v: unknown): LockRecord | undefined {
  if (!isRecord(v) || !isRecord(v.holder)) return undefined;
  const h = v.holder;
  if (typeof h.agentId !== 'string' || typeof h.instanceId !== 'string') return undefined;
  if (typeof v.ttlMs !== 'number' || typeof v.releaseOnUnhealthy !== 'boolean') return undefined;
  return {
    holder: {
      agentId: h.agentId,
      instanceId: h.instanceId,
      ...(typeof h.label === 'string' ? { label: h.label } : {}),
    },
    ttlMs: v.ttlMs,
    releaseOnUnhealthy: v.releaseOnUnhealthy,
    ...(typeof v.lease === 'string' ? { lease: v.lease } : {}),
  };
}
