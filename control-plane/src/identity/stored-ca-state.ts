import { type Static, Type } from '@sinclair/typebox';
import { compileValidator } from '@meshlet/shared';

/** Where a root rotation stands. `done`: the last one finished; the state it left is the CA's. */
export type RotationStep = 'adding-root' | 'switching-issuer' | 'removing-root' | 'done';

const Sealed = Type.Object({ iv: Type.String(), tag: Type.String(), data: Type.String() });
const SealedIssuer = Type.Object({
  /** The issuer certificate first, then any up to a root, PEM each. */
  chain: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 4 }),
  key: Sealed,
});

/**
 * The CA as root rotations left it, under `ca/state` in the store (shared by
 * replicas, carried by backups): the trust bundle, the issuers agents may
 * meet, the issuer that signs (its key sealed with the state key), and the
 * rotation's step. Absent until the first `meshctl ca rotate`: the CA is then
 * what its source (generated directory, files) holds.
 */
export const StoredCaState = Type.Object({
  /** Grows with every change of the bundle or the active issuer: the trust bundle's `generation`. */
  generation: Type.Integer({ minimum: 1 }),
  step: Type.Union([
    Type.Literal('adding-root'),
    Type.Literal('switching-issuer'),
    Type.Literal('removing-root'),
    Type.Literal('done'),
  ]),
  startedAt: Type.Number(),
  /** When the step began. */
  stepAt: Type.Number(),
  completedAt: Type.Optional(Type.Number()),
  /** Who started it (the admin token's name, when it has one). */
  startedBy: Type.Optional(Type.String({ maxLength: 256 })),
  /** The roots agents trust now, PEM each. */
  roots: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 8 }),
  /** The issuers agents may meet in peers' chains, PEM each. */
  issuers: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 8 }),
  /** The issuer that signs. */
  active: SealedIssuer,
  /** While the new root is being added: the issuer under it, which signs from the next step. */
  next: Type.Optional(SealedIssuer),
  /** The root this rotation brings in (the only one left at its end). */
  newRoot: Type.String({ minLength: 1 }),
  /** The id of the state key that sealed the keys ({@link StateKey.id}). */
  stateKeyId: Type.String(),
  /** An HMAC of the rest of the state under the state key ({@link macText}): roots cannot be added by a store writer. */
  mac: Type.String(),
});
/** {@inheritDoc StoredCaState} */
export type StoredCaState = Static<typeof StoredCaState>;

/** The text a state's `mac` covers: every field but the mac, in a fixed order. */
export function macText(state: Omit<StoredCaState, 'mac'> & { mac?: string }): string {
  const { mac: _mac, ...rest } = state;
  return JSON.stringify(canonical(rest));
}

/** `value` with every object's keys sorted, so that its JSON does not depend on the order they were written in. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key]);
  return out;
}

/** The store key of {@link StoredCaState}. */
export const CA_STATE_KEY = 'ca/state';

const validState = compileValidator(StoredCaState);

/** A stored state checked against its schema; a message naming the field otherwise. */
export function parseStoredCaState(value: unknown): { ok: true; state: StoredCaState } | { ok: false; error: string } {
  const checked = validState(value);
  if (checked.ok) return { ok: true, state: checked.value };
  return { ok: false, error: checked.issues.map((i) => `${i.path}: ${i.problem}`).join('; ') };
}
