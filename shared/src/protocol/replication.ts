import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { InstanceRole } from './failover.js';
import { InstanceInfo, Observations } from './messages.js';

/**
 * What control-plane replicas share through etcd, under `<prefix>live/` and
 * in their election's campaign values, as a replica reads it back. Another
 * replica, maybe of another meshlet version, wrote it: every value is checked
 * before use, and one that fails is ignored. The checks are as lenient as the
 * control plane needs them to be and no more, so that a newer replica adding
 * a field is not shut out.
 */

/** Absent, or `null` (what some writers put for "none"). */
const OrNull = <T extends TSchema>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]));

/** The integers that `Number.isSafeInteger` accepts. */
const SafeInteger = Type.Integer({ minimum: Number.MIN_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });

/**
 * A replica's registration of one of its agents, under `live/agents/<agentId>`
 * (the agent id is the key's, not the value's).
 */
export const StoredRegistration = Type.Object({
  /** The replica the agent is connected to. */
  replica: Type.String({ minLength: 1 }),
  instance: OrNull(InstanceInfo),
  connected: Type.Boolean(),
  remoteAddress: Type.String(),
  connectedAt: Type.Number(),
  disconnectedAt: OrNull(Type.Number()),
  disconnectReason: OrNull(Type.String()),
  graceful: Type.Boolean(),
  health: Type.Union([Type.Literal('unknown'), Type.Literal('healthy'), Type.Literal('unhealthy')]),
  healthReason: OrNull(Type.String()),
  subscriptions: Type.Array(Type.String()),
  /**
   * The service of the per-service join credential the agent was admitted
   * with; absent when it joined with the shared token or none (and from
   * replicas older than this field).
   */
  admittedFor: OrNull(Type.String()),
  /** The trust bundle generation the agent ACKed; absent before its first (and from older replicas). */
  trustGeneration: OrNull(Type.Integer({ minimum: 0 })),
  /** The fingerprint of the issuer of the agent's certificate, when known. */
  certificateIssuer: OrNull(Type.String({ maxLength: 64 })),
  /** The role the agent's check last reported (issue 19); absent: none (and from older replicas). */
  role: OrNull(InstanceRole),
  /** The replication offset it last reported, in bytes; absent: none. */
  replicationOffset: OrNull(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
});
/** {@inheritDoc StoredRegistration} */
export type StoredRegistration = Static<typeof StoredRegistration>;

/**
 * A replica's signal batch, under `live/signals/<replicaId>`: only its
 * envelope. Its entries are checked one by one ({@link AgentAge},
 * {@link AgentObservation}), so that one bad entry costs only itself and
 * not the word of every agent of that replica.
 */
export const SignalBatchEnvelope = Type.Object({
  replica: Type.String(),
  /** Agent id → {@link AgentAge}. */
  seen: Type.Record(Type.String(), Type.Unknown()),
  /** {@link AgentObservation}s. */
  observations: Type.Array(Type.Unknown()),
});
/** {@inheritDoc SignalBatchEnvelope} */
export type SignalBatchEnvelope = Static<typeof SignalBatchEnvelope>;

/** Milliseconds since a replica last heard from one of its agents (an age: replicas' clocks differ). */
export const AgentAge = Type.Number({ minimum: 0, maximum: Number.MAX_VALUE });

/**
 * One observation report in a signal batch, with the agent that sent it and
 * what that agent counts as among callers (its credential; absent from
 * older replicas: the agent id).
 */
export const AgentObservation = Type.Object({
  agentId: Type.String(),
  report: Observations,
  identity: Type.Optional(Type.String({ maxLength: 256 })),
});
/** {@inheritDoc AgentObservation} */
export type AgentObservation = Static<typeof AgentObservation>;

/**
 * The leader's routing table, under `live/table`: its envelope. The services
 * are not checked here: the agents check the table they receive against the
 * protocol, and a follower must not refuse a newer leader's table for a
 * policy field it does not know yet.
 */
export const PublishedTableEnvelope = Type.Object({
  version: SafeInteger,
  nonce: Type.String(),
  services: Type.Record(Type.String(), Type.Unknown()),
  /** The trust bundle the table carries (checked by the agents, as the services are). */
  trust: Type.Optional(Type.Unknown()),
});
/** {@inheritDoc PublishedTableEnvelope} */
export type PublishedTableEnvelope = Static<typeof PublishedTableEnvelope>;

/** One of the leader's latest decisions, in the list under `live/events`. */
export const StoredEvent = Type.Object({
  seq: SafeInteger,
  time: Type.Number(),
  /** Any string: a newer leader may record a kind this replica does not know yet, and it is still listed. */
  kind: Type.String(),
  service: Type.String(),
  instance: Type.Optional(Type.String()),
  from: Type.String(),
  to: Type.String(),
  reason: Type.String(),
  evidence: Type.Record(Type.String(), Type.Unknown()),
});
/** {@inheritDoc StoredEvent} */
export type StoredEvent = Static<typeof StoredEvent>;

/**
 * A candidate's campaign value in the leader election. Read field by field:
 * a candidate whose value does not fit still leads, as `unknown` with no URL.
 */
export const CampaignValue = Type.Object({
  replicaId: Type.String(),
  /** Shown to operators and followed by meshctl: only a plain http(s) URL passes. */
  url: Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$' }),
});
/** {@inheritDoc CampaignValue} */
export type CampaignValue = Static<typeof CampaignValue>;
