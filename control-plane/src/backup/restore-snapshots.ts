import { type Clock, systemClock } from '@meshlet/shared';
import { JOIN_CREDENTIAL_PREFIX, type StoredJoinCredential } from '../join/join-credential-store.js';
import type { Store } from '../store/store.js';
import { canonicalJson } from './canonical-json.js';
import { isExcludedKey } from './snapshot-format.js';
import { CA_STATE_KEY, parseStoredCaState } from '../identity/stored-ca-state.js';
import type { VerifiedSnapshots } from './verify-snapshots.js';

/** What {@link restoreSnapshots} did. */
export interface RestoreResult {
  /** Keys the store holds from the snapshots (excluded keys not counted). */
  keys: number;
  /** The store's revision after the restore (its own numbering, not the snapshots'). */
  revision: number;
  /** Keys put because they were missing or held another value. */
  written: number;
  /** Keys deleted because the snapshots do not have them. */
  deleted: number;
}

/** What {@link restoreSnapshots} needs besides the store and the snapshots. */
export interface RestoreOptions {
  /** The revocation time of a credential the snapshots do not have; `systemClock` by default. */
  now?: Clock;
}

/** A join credential record, when `value` is one (restore-check validated the snapshots' ones). */
const credentialIn = (key: string, value: unknown): StoredJoinCredential | undefined =>
  key.startsWith(JOIN_CREDENTIAL_PREFIX) && typeof value === 'object' && value !== null
    ? (value as StoredJoinCredential)
    : undefined;

/**
 * What a restore writes at a join credential's key, so that a restore never
 * admits an agent the store refuses now: revocation is one-way (a credential
 * revoked now stays revoked, at its first revocation time, even when the
 * backup predates the revoke), and a credential the backup does not have is
 * kept as revoked rather than deleted: its holders are told it was revoked
 * (not that it is unknown), `meshctl token list` shows when, and no later
 * restore of a backup that holds it active can bring it back.
 * `undefined` for any other key: it follows the snapshots.
 */
function keptCredential(key: string, current: unknown, restored: unknown, now: Clock): unknown {
  const before = credentialIn(key, current);
  if (before === undefined) return undefined;
  const after = credentialIn(key, restored);
  if (after === undefined) return before.revokedAt === undefined ? { ...before, revokedAt: now() } : before;
  if (before.revokedAt === undefined) return undefined;
  const revokedAt = after.revokedAt === undefined ? before.revokedAt : Math.min(before.revokedAt, after.revokedAt);
  return { ...after, revokedAt };
}

/**
 * What a restore writes at the CA's state: the one held now when the backup
 * has none or an older one (a lower generation), so that a restore never
 * rolls the CA back to a root the mesh has retired (agents would refuse
 * each other, and a retired, perhaps compromised, root be trusted again).
 * `undefined` for any other key, or when the backup's is as new or newer.
 */
function keptCaState(key: string, current: unknown, restored: unknown): unknown {
  if (key !== CA_STATE_KEY || current === undefined) return undefined;
  // A state the control plane cannot use is no reason to refuse the backup's: only a well-formed one is kept.
  if (!parseStoredCaState(current).ok) return undefined;
  const generation = (v: unknown): number =>
    typeof v === 'object' && v !== null && typeof (v as { generation?: unknown }).generation === 'number'
      ? (v as { generation: number }).generation
      : -1;
  return generation(restored) < generation(current) ? current : undefined;
}

/**
 * Makes the store's keys, excluded ones aside, exactly the verified state:
 * deletes the keys it does not have and puts the ones whose value differs.
 * Unchanged keys are not rewritten, so their modRevision (the resource
 * version clients hold) stays valid and a restore of what is already there
 * writes nothing.
 *
 * Only what {@link verifySnapshots} accepted can be passed: verify first,
 * and on a refusal write nothing. A write that fails stops the restore
 * part-way; running it again finishes it, since it only does what is left.
 * The store keeps its own cluster id and revisions, so the next incremental
 * snapshot of it needs a new full one first.
 *
 * Join credentials are the exception to "exactly": a restore never revives
 * a revoked credential nor deletes one (see docs/security.md, "Join
 * credentials"); one the snapshots lack is kept, revoked. So is the CA's
 * state: a restore never takes it back to an older generation.
 */
export async function restoreSnapshots(
  store: Store,
  verified: VerifiedSnapshots,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const now = options.now ?? systemClock;
  let written = 0;
  let deleted = 0;
  const target = new Map(verified.state);
  // Deletions first: every write rewrites the store, which is smaller without them.
  for (const key of store.keys()) {
    if (isExcludedKey(key)) continue;
    const kept =
      keptCredential(key, store.get(key), target.get(key), now) ?? keptCaState(key, store.get(key), target.get(key));
    if (kept !== undefined) target.set(key, kept);
    if (target.has(key)) continue;
    await store.delete(key);
    deleted++;
  }
  // Compared as JSON, which is what the store keeps: {a: undefined} equals {}.
  for (const [key, value] of target) {
    const current = store.get(key);
    if (current !== undefined && canonicalJson(current) === canonicalJson(value)) continue;
    await store.put(key, structuredClone(value));
    written++;
  }
  return { keys: verified.state.size, revision: store.revision(), written, deleted };
}
