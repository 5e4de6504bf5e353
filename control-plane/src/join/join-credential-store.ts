import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type Clock, compileValidator, ServiceName } from '@meshlet/shared';
import { Type, type Static } from '@sinclair/typebox';
import type { Store } from '../store/store.js';

/** Where credentials live in the store: `join-credentials/<id>`. */
export const JOIN_CREDENTIAL_PREFIX = 'join-credentials/';

/** Every credential starts with it, so a leaked one is recognisable (secret scanners, logs, reviews). */
export const CREDENTIAL_PREFIX = 'mjc_';

/** A credential's id: 16 lowercase hex digits. */
const ID_PATTERN = /^[0-9a-f]{16}$/;
/** `mjc_<id>_<secret>`, the secret 43 base64url characters (32 random bytes). */
const CREDENTIAL_PATTERN = /^mjc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A credential as the store keeps it: the SHA-256 of its secret, never the secret. */
export const StoredJoinCredential = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{16}$' }),
  service: ServiceName,
  createdAt: Type.Integer({ minimum: 0 }),
  expiresAt: Type.Integer({ minimum: 0 }),
  /** Hex SHA-256 of the secret part. */
  secretSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  revokedAt: Type.Optional(Type.Integer({ minimum: 0 })),
});
/** {@inheritDoc StoredJoinCredential} */
export type StoredJoinCredential = Static<typeof StoredJoinCredential>;

/** Checks a stored credential value (a restore does it before writing any key). */
export const isStoredJoinCredential = compileValidator(StoredJoinCredential);

/** The state of a credential at a given time. */
export type JoinCredentialState = 'active' | 'expired' | 'revoked';

/** A credential as the admin API lists it: everything but the secret. */
export interface JoinCredentialView {
  id: string;
  service: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  state: JoinCredentialState;
}

/** Why a presented credential was not accepted, or the credential it is. */
export type CredentialCheck =
  | { ok: true; credential: StoredJoinCredential }
  | { ok: false; reason: 'malformed' | 'unknown' | 'expired' | 'revoked'; id?: string };

/** Random bytes; crypto's by default, passed in so tests can pin ids down. */
export type RandomBytes = (n: number) => Buffer;

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();
/** Compared with when the id is unknown, so that an unknown id costs the same hash and comparison as a known one. */
const DUMMY_SHA256 = sha256('meshlet unknown join credential id');

/** True when `text` looks like a per-service credential (rather than the shared join token). */
export function isJoinCredential(text: string): boolean {
  return text.startsWith(CREDENTIAL_PREFIX);
}

/**
 * Per-service join credentials, minted by operators through the admin API
 * and kept in the store, so that every replica sharing an etcd store
 * accepts them. The store holds only the SHA-256 of each secret: the
 * secret is 256 random bits, so a fast hash suffices (no password stretching
 * is needed against guessing), and a leaked store or backup admits nobody.
 * The id in the credential finds the record; the secret is compared in
 * constant time. A revoked credential keeps its record (revokedAt), so the
 * list shows it and it is refused by name rather than as unknown.
 */
export class JoinCredentialStore {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #random: RandomBytes;

  constructor(store: Store, clock: Clock, random: RandomBytes = randomBytes) {
    this.#store = store;
    this.#clock = clock;
    this.#random = random;
  }

  /** Mints a credential for `service`, valid for `ttlMs`; the secret is in the returned `credential` and nowhere else. */
  async create(service: string, ttlMs: number): Promise<{ record: StoredJoinCredential; credential: string }> {
    const id = this.#random(8).toString('hex');
    const secret = this.#random(32).toString('base64url');
    const now = this.#clock();
    const record: StoredJoinCredential = {
      id,
      service,
      createdAt: now,
      expiresAt: now + ttlMs,
      secretSha256: sha256(secret).toString('hex'),
    };
    // writeIf at 0: two ids cannot collide silently (2^64 ids, but a broken random source would show here).
    if ((await this.#store.writeIf(JOIN_CREDENTIAL_PREFIX + id, record, 0)) === undefined)
      throw new Error(`join credential id ${id} already exists`);
    return { record, credential: `${CREDENTIAL_PREFIX}${id}_${secret}` };
  }

  /** Every stored credential, oldest first. */
  list(): StoredJoinCredential[] {
    const all: StoredJoinCredential[] = [];
    for (const key of this.#store.keys(JOIN_CREDENTIAL_PREFIX)) {
      const value = this.#store.get<unknown>(key);
      if (isStoredJoinCredential(value).ok) all.push(value as StoredJoinCredential);
    }
    return all.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** The credential with `id`, if stored. */
  get(id: string): StoredJoinCredential | undefined {
    if (!ID_PATTERN.test(id)) return undefined;
    const value = this.#store.get<unknown>(JOIN_CREDENTIAL_PREFIX + id);
    return isStoredJoinCredential(value).ok ? (value as StoredJoinCredential) : undefined;
  }

  /** The state of `record` now. */
  stateOf(record: StoredJoinCredential): JoinCredentialState {
    if (record.revokedAt !== undefined) return 'revoked';
    return this.#clock() >= record.expiresAt ? 'expired' : 'active';
  }

  /** Revokes `id`; false when there is no such credential. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<StoredJoinCredential | undefined> {
    const record = this.get(id);
    if (!record) return undefined;
    if (record.revokedAt !== undefined) return record;
    const revoked = { ...record, revokedAt: this.#clock() };
    await this.#store.put(JOIN_CREDENTIAL_PREFIX + id, revoked);
    return revoked;
  }

  /** Checks a presented credential: well formed, known, its secret matching, not revoked, not expired. */
  verify(presented: string): CredentialCheck {
    const m = CREDENTIAL_PATTERN.exec(presented);
    if (!m) return { ok: false, reason: 'malformed' };
    const [, id, secret] = m as unknown as [string, string, string];
    const record = this.get(id);
    // An unknown id and a wrong secret read the same to the caller, in answer and in time: the
    // secret is hashed and compared either way (against a dummy hash for an unknown id).
    const matches = timingSafeEqual(sha256(secret), record ? Buffer.from(record.secretSha256, 'hex') : DUMMY_SHA256);
    if (!record || !matches) return { ok: false, reason: 'unknown', id };
    const state = this.stateOf(record);
    if (state !== 'active') return { ok: false, reason: state, id };
    return { ok: true, credential: record };
  }

  /** What the admin API shows of `record`. */
  view(record: StoredJoinCredential): JoinCredentialView {
    return {
      id: record.id,
      service: record.service,
      createdAt: new Date(record.createdAt).toISOString(),
      expiresAt: new Date(record.expiresAt).toISOString(),
      ...(record.revokedAt === undefined ? {} : { revokedAt: new Date(record.revokedAt).toISOString() }),
      state: this.stateOf(record),
    };
  }
}
