import { type Static, Type } from '@sinclair/typebox';

/**
 * Coordination for applications (locks with fencing tokens, leader
 * elections with terms) between an agent and the control plane. The app asks
 * its own agent on the admin listener; the agent asks the control plane over
 * its stream with `coord` requests, each answered by one `coordResult` with
 * the same `id`; the control plane tells agents what changed with
 * `coordEvent`. Names are scoped to the service of the asking agent's
 * authenticated identity: an agent can neither see nor touch another
 * service's locks.
 */

/** What a coordination request is about: a lock, or an election (a lock whose holder is the leader). */
export const CoordKind = Type.Union([Type.Literal('lock'), Type.Literal('election')]);
/** {@inheritDoc CoordKind} */
export type CoordKind = Static<typeof CoordKind>;

/** Lock and election names: like keys, short and printable. */
export const CoordName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  fix: 'use letters, digits, ".", "_" and "-", starting with a letter or digit, such as "nightly-report"',
});

/** Fencing tokens and terms: a store revision, growing with every new holder. */
export const FencingToken = Type.Integer({ minimum: 1, maximum: 2 ** 53 - 1 });

/** Lease lengths: from one second to one hour (etcd leases count whole seconds: rounded up). */
export const LeaseTtlMs = Type.Integer({
  minimum: 1000,
  maximum: 3_600_000,
  fix: 'use a TTL from 1000 ms to 3600000 ms (one hour)',
});

/** A short label the app gives itself (a host name, a pid, a URL), shown to operators and observers. */
export const HolderLabel = Type.String({ maxLength: 256 });

/** Who holds a lock (or leads an election). */
export const CoordHolder = Type.Object({
  agentId: Type.String({ minLength: 1, maxLength: 128 }),
  instanceId: Type.String({ minLength: 1, maxLength: 128 }),
  label: Type.Optional(HolderLabel),
});
/** {@inheritDoc CoordHolder} */
export type CoordHolder = Static<typeof CoordHolder>;

/** A lock or election as the store has it now. */
export const CoordState = Type.Object({
  kind: CoordKind,
  /** The service whose name space it is in (the holder's and asker's service). */
  service: Type.String({ minLength: 1, maxLength: 63 }),
  name: CoordName,
  /** Absent: free (no leader). */
  holder: Type.Optional(CoordHolder),
  /** The holder's fencing token (an election's term); absent when free. */
  token: Type.Optional(FencingToken),
  /** The lease the holder was granted; absent when free. */
  ttlMs: Type.Optional(LeaseTtlMs),
  /** Released when the holder's instance is marked unhealthy (default true). */
  releaseOnUnhealthy: Type.Optional(Type.Boolean()),
  /**
   * The store revision of the last change to this lock (0: never held). Grows
   * with every change; an app's long-poll waits for one above the index it has.
   */
  revision: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
});
/** {@inheritDoc CoordState} */
export type CoordState = Static<typeof CoordState>;

/**
 * agent → control plane: one coordination operation.
 * - `acquire`: take the lock if it is free (`ttlMs` required); never waits
 *   (the agent waits for a release event and asks again).
 * - `renew`: extend the holder's lease (`token` required, `ttlMs` optional:
 *   the lease it was granted).
 * - `release`: give it up (`token` required).
 * - `get`: read the state.
 * - `watch` / `unwatch`: be sent (or no longer) a `coordEvent` on every change.
 */
export const Coord = Type.Object({
  type: Type.Literal('coord'),
  /** Chosen by the agent, unique among its requests in flight on this stream. */
  id: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
  op: Type.Union([
    Type.Literal('acquire'),
    Type.Literal('renew'),
    Type.Literal('release'),
    Type.Literal('get'),
    Type.Literal('watch'),
    Type.Literal('unwatch'),
  ]),
  kind: CoordKind,
  name: CoordName,
  ttlMs: Type.Optional(LeaseTtlMs),
  token: Type.Optional(FencingToken),
  label: Type.Optional(HolderLabel),
  releaseOnUnhealthy: Type.Optional(Type.Boolean()),
});
/** {@inheritDoc Coord} */
export type Coord = Static<typeof Coord>;

/**
 * control plane → agent: the answer to one `coord`. `ok: false` carries a
 * stable `code` (such as `MESHLET_LOCK_HELD`, `MESHLET_LOCK_NOT_HELD`,
 * `MESHLET_STORE_UNAVAILABLE`) and a message that says the fix; `state` is
 * the lock as it stands after the operation (also on `MESHLET_LOCK_HELD`:
 * who holds it).
 */
export const CoordResult = Type.Object({
  type: Type.Literal('coordResult'),
  id: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
  ok: Type.Boolean(),
  state: Type.Optional(CoordState),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  message: Type.Optional(Type.String({ maxLength: 4096 })),
  /**
   * How long the control plane lets a holder's agent be away (no stream to
   * any replica) before it frees the holder's locks (`disconnected`): its
   * `heartbeat.timeoutMs`. Sent with every successful acquire and renew, so
   * that an agent whose stream dropped tells its app `lost` about when the
   * control plane frees the lock: counted from when the agent noticed the
   * drop, which can be later than when the control plane did (a half-open
   * stream), so `doubt`, sent at the drop, is the app's signal to stop when
   * its resource checks no fencing token.
   */
  disconnectGraceMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000 })),
  /** Why a `MESHLET_COORDINATION_REFUSED` was refused, for the agent's HTTP status (no more matching words). */
  refusal: Type.Optional(
    Type.Union([
      Type.Literal('no-service'),
      Type.Literal('store'),
      Type.Literal('limit'),
      Type.Literal('request'),
      // The asking instance is marked unhealthy and the lock is released on unhealthy: a waiting acquire keeps waiting.
      Type.Literal('unhealthy'),
      // A managed service's failover election asked by an instance that is not a candidate now (docs/databases.md).
      Type.Literal('not-candidate'),
    ]),
  ),
});
/** {@inheritDoc CoordResult} */
export type CoordResult = Static<typeof CoordResult>;

/** Why a lock changed hands or became free. */
export const CoordReason = Type.Union([
  Type.Literal('acquired'),
  Type.Literal('released'),
  Type.Literal('expired'),
  Type.Literal('unhealthy'),
  Type.Literal('disconnected'),
  Type.Literal('forced'),
]);
/** {@inheritDoc CoordReason} */
export type CoordReason = Static<typeof CoordReason>;

/**
 * control plane → agent: a lock or election changed. Sent to every agent of
 * the service that watches it, and always to the agent whose holder lost it
 * (`lost` is then the token it held), so that a holder learns it lost the
 * lock rather than finding out by surprise.
 */
export const CoordEvent = Type.Object({
  type: Type.Literal('coordEvent'),
  state: CoordState,
  reason: CoordReason,
  /** The token the receiving agent's holder held and no longer does. */
  lost: Type.Optional(FencingToken),
  /** Who forced a release (an operator's token name), for `forced`. */
  by: Type.Optional(Type.String({ maxLength: 256 })),
});
/** {@inheritDoc CoordEvent} */
export type CoordEvent = Static<typeof CoordEvent>;
