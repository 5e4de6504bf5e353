import { type Static, Type } from '@sinclair/typebox';
import { AuthzPolicy } from './authz-policy.js';
import { Coord, CoordEvent, CoordResult } from './coordination.js';
import { FailoverState, InstanceRole } from './failover.js';
import { ServicePolicy } from './policy.js';
import { SERVICE_NAME_RULE } from './service-name.js';

/**
 * Protocol v1 between agent and control plane: JSON messages over one
 * WebSocket at `/v1/stream`, each an object with a `type`. Unknown fields are
 * ignored so that a newer peer can add fields without a version bump; a
 * change that an older peer would misread bumps {@link PROTOCOL_VERSION}.
 */
export const PROTOCOL_VERSION = 1;

/** Service names are DNS labels so they can be used as `Host` headers ({@link SERVICE_NAME_RULE}). */
export const ServiceName = Type.String({ minLength: 1, ...SERVICE_NAME_RULE });

/** Identifiers of agents and instances. */
export const Id = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
  fix: 'use letters, digits, ".", "_", ":" and "-", starting with a letter or digit, such as "orders-1"',
});

/** A TCP port. */
/** Table versions: integers well inside the safe range, so `version + 1` always grows. */
export const Version = Type.Integer({ minimum: 0, maximum: 2 ** 48 });

export const Port = Type.Integer({ minimum: 1, maximum: 65535, fix: 'use a port between 1 and 65535' });

/** Free-form labels such as `role=primary`, `version=v2`. */
export const Labels = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }),
  Type.String({ maxLength: 253 }),
  {
    additionalProperties: false,
  },
);

/** Fields that describe an endpoint, shared by the routing table and the hello. */
const endpointFields = {
  id: Id,
  host: Type.String({ minLength: 1, maxLength: 253 }),
  port: Port,
  zone: Type.Optional(Type.String({ maxLength: 63 })),
  tier: Type.Integer({ minimum: 0, maximum: 15 }),
  weight: Type.Integer({ minimum: 1, maximum: 10000 }),
  labels: Labels,
  /**
   * The endpoint's agent serves mutual TLS with a mesh workload certificate
   * on this port (it holds a workload identity); absent: plaintext only.
   * Callers with a certificate of their own connect to it with mTLS.
   */
  mtls: Type.Optional(Type.Boolean()),
};

/**
 * Health of an endpoint as the control plane decided it. Absent means
 * healthy. Unhealthy endpoints stay in the table so that callers know each
 * tier's size: panic mode and tier spill-over need the healthy share.
 */
export const EndpointHealth = Type.Union([
  Type.Literal('healthy'),
  Type.Literal('unhealthy'),
  Type.Literal('draining'),
]);
/** {@inheritDoc EndpointHealth} */
export type EndpointHealth = Static<typeof EndpointHealth>;

/** One endpoint of a service: the address of its agent's inbound listener. */
export const Endpoint = Type.Object({
  ...endpointFields,
  health: Type.Optional(EndpointHealth),
  /** The role the instance's check reports now (also set as its `role` label, overriding a configured one); absent: none reported. */
  role: Type.Optional(InstanceRole),
});
/** {@inheritDoc Endpoint} */
export type Endpoint = Static<typeof Endpoint>;

/** What an agent says about the instance it fronts, in its hello: an endpoint and its service. */
export const InstanceInfo = Type.Object({
  service: ServiceName,
  ...endpointFields,
  /**
   * The instance takes part in its service's managed failover with this
   * priority (`instance.failover.priority`; 0: never promoted automatically);
   * absent: it does not take part (never a candidate).
   */
  failoverPriority: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
});
/** {@inheritDoc InstanceInfo} */
export type InstanceInfo = Static<typeof InstanceInfo>;

/** agent → control plane, first message on every connection. */
export const Hello = Type.Object({
  type: Type.Literal('hello'),
  protocolVersion: Type.Integer({ minimum: 1 }),
  agentId: Id,
  /** Join token; never logged. */
  joinToken: Type.Optional(Type.String({ maxLength: 1024 })),
  /** Absent for an agent that only sends traffic (a client). */
  instance: Type.Optional(InstanceInfo),
  /**
   * The service a client-only agent acts for (its join credential must be
   * for it); with an instance, absent or `instance.service`.
   */
  service: Type.Optional(ServiceName),
  /** Version of the routing table the agent holds, 0 if none; a restarted control plane continues above it. */
  tableVersion: Version,
  /**
   * Services this agent calls: the declared upstreams plus those learned from
   * requests (and those in the table it holds). The control plane sends it
   * only these; absent means none yet.
   */
  upstreams: Type.Optional(Type.Array(ServiceName, { maxItems: 10000 })),
});
/** {@inheritDoc Hello} */
export type Hello = Static<typeof Hello>;

/** agent → control plane, every `heartbeatIntervalMs`. */
export const Heartbeat = Type.Object({
  type: Type.Literal('heartbeat'),
  seq: Type.Integer({ minimum: 0 }),
});
/** {@inheritDoc Heartbeat} */
export type Heartbeat = Static<typeof Heartbeat>;

/** agent → control plane: the result of the agent's local check of its app, sent on every change. */
export const Health = Type.Object({
  type: Type.Literal('health'),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')]),
  reason: Type.Optional(Type.String({ maxLength: 1024 })),
  /** The role the check reports (postgres, redis, exec, HTTP role paths); absent: the check has none. */
  role: Type.Optional(InstanceRole),
  /**
   * How far the instance's copy has got, in bytes of its replication stream
   * (PostgreSQL's WAL LSN received or written, Redis's replication offset):
   * standbys are ranked by it and a switchover waits for it. Sent with the
   * role, and again at most once per check interval while it moves.
   */
  replicationOffset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 })),
});
/** {@inheritDoc Health} */
export type Health = Static<typeof Health>;

/** agent → control plane: the agent is about to call services it did not declare; add them to its table. */
export const Subscribe = Type.Object({
  type: Type.Literal('subscribe'),
  services: Type.Array(ServiceName, { minItems: 1, maxItems: 1000 }),
});
/** {@inheritDoc Subscribe} */
export type Subscribe = Static<typeof Subscribe>;

/** What one caller saw of one endpoint during an observation window. */
export const EndpointObservation = Type.Object({
  service: ServiceName,
  /** The endpoint's id, as in the routing table. */
  id: Id,
  /** Attempts that got an answer the caller did not count as a failure. */
  ok: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
  /** Attempts that failed, as the caller's outlier detection counts them: connect errors, resets, timeouts, and 5xx answers. */
  failed: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
  /** Mean latency of the answered attempts, in milliseconds. */
  latencyMs: Type.Optional(Type.Number({ minimum: 0, maximum: 3_600_000 })),
  /** 99th percentile latency of the answered attempts in the window, in milliseconds (from a coarse histogram). */
  latencyP99Ms: Type.Optional(Type.Number({ minimum: 0, maximum: 3_600_000 })),
  /** The caller's outlier detection ejected the endpoint during this window. */
  ejected: Type.Optional(Type.Boolean()),
});
/** {@inheritDoc EndpointObservation} */
export type EndpointObservation = Static<typeof EndpointObservation>;

/** agent → control plane, about once a second while it sends traffic: per-endpoint outcomes since the last report. */
export const Observations = Type.Object({
  type: Type.Literal('observations'),
  /** Length of the window these counts cover. */
  windowMs: Type.Integer({ minimum: 1, maximum: 600_000 }),
  endpoints: Type.Array(EndpointObservation, { maxItems: 10000 }),
});
/** {@inheritDoc Observations} */
export type Observations = Static<typeof Observations>;

/**
 * Ring membership of a hash-balanced service, decided by the control plane:
 * the healthy members of the serving tier with their weights. Every agent
 * builds the same table (ring or Maglev, per the policy) from it and reports
 * the table's checksum in its ACK.
 */
export const RingMembership = Type.Object({
  /** Grows whenever the members or their weights change. */
  version: Version,
  members: Type.Array(Type.Object({ id: Id, weight: Type.Integer({ minimum: 1, maximum: 10000 }) }), {
    maxItems: 10000,
  }),
});
/** {@inheritDoc RingMembership} */
export type RingMembership = Static<typeof RingMembership>;

/** The endpoints of one service in a routing table. */
export const ServiceRoutes = Type.Object({
  endpoints: Type.Array(Endpoint, { maxItems: 10000 }),
  /** The service's traffic policy, complete (defaults filled in by the control plane); absent: all defaults. */
  policy: Type.Optional(ServicePolicy),
  /**
   * The tier the control plane's failover engine has chosen to serve (set
   * when the service has more than one tier). Callers send nothing to lower
   * tiers while a tier at or above it has a healthy endpoint; this is how a
   * failback waits for its hold time and how a manual failover is applied.
   */
  activeTier: Type.Optional(Type.Integer({ minimum: 0, maximum: 15 })),
  /** For `ring_hash` and `maglev` services: the published membership. */
  ring: Type.Optional(RingMembership),
  /** The service's authorization policy, applied by its own agents to inbound calls; absent: none (the default applies). */
  authz: Type.Optional(AuthzPolicy),
  /** For a service with `policy.failover.mode: managed`: its term, primary and candidates (see {@link FailoverState}). */
  failover: Type.Optional(FailoverState),
});
/** {@inheritDoc ServiceRoutes} */
export type ServiceRoutes = Static<typeof ServiceRoutes>;

/** The fingerprint of a CA certificate: the first 128 bits of the SHA-256 of its DER, as lowercase hex. */
export const CertificateFingerprint = Type.String({ pattern: '^[0-9a-f]{32}$', maxLength: 32 });

/**
 * The mesh's trust bundle as the control plane's CA holds it now. It travels
 * in the routing table (in a full table always, in a delta when it changed
 * since the version it is based on) and is ACKed with it, so the control
 * plane knows which agents hold it: a root rotation waits for that proof
 * before each step.
 */
export const TrustBundle = Type.Object({
  /** Grows with every change of the bundle or of the active issuer. */
  generation: Version,
  /** The roots peers are checked against, PEM, one or more. */
  rootsPem: Type.String({ minLength: 1, maxLength: 262144 }),
  /**
   * The issuers that certify the mesh's workloads now or during a rotation,
   * PEM: candidates to build a peer's chain with (never anchors), since some
   * TLS stacks hand a server only the client's leaf.
   */
  issuersPem: Type.String({ maxLength: 262144 }),
  /** The fingerprint of the issuer that signs new certificates: an agent whose certificate is from another renews. */
  activeIssuer: CertificateFingerprint,
});
/** {@inheritDoc TrustBundle} */
export type TrustBundle = Static<typeof TrustBundle>;

/**
 * control plane → agent: a routing table. The first table on a stream is
 * full; later ones are deltas: with `baseVersion`, `services` holds only the
 * services that changed since that version and `removed` those to drop. An
 * agent that does not hold `baseVersion` NACKs with code
 * `MESHLET_DELTA_BASE_MISMATCH` and is sent a full table.
 */
export const Routes = Type.Object({
  type: Type.Literal('routes'),
  version: Type.Integer({ minimum: 1, maximum: 2 ** 48 }),
  nonce: Type.String({ minLength: 1, maxLength: 64 }),
  baseVersion: Type.Optional(Version),
  // additionalProperties: false makes the key pattern bind: a service name that is not a DNS label is refused.
  services: Type.Record(ServiceName, ServiceRoutes, { additionalProperties: false }),
  removed: Type.Optional(Type.Array(ServiceName, { maxItems: 10000 })),
  /** The trust bundle: in a full table, and in a delta whose base predates its last change. */
  trust: Type.Optional(TrustBundle),
});
/** {@inheritDoc Routes} */
export type Routes = Static<typeof Routes>;

/** agent → control plane: the table `version`/`nonce` was applied. */
export const Ack = Type.Object({
  type: Type.Literal('ack'),
  version: Type.Integer({ minimum: 1 }),
  nonce: Type.String({ minLength: 1, maxLength: 64 }),
  /** Per hash-balanced service: the ring version applied and the checksum of the table built from it. */
  ringChecksums: Type.Optional(
    Type.Record(
      ServiceName,
      Type.Object({ version: Version, checksum: Type.String({ minLength: 1, maxLength: 64 }) }),
      {
        additionalProperties: false,
      },
    ),
  ),
  /** The fingerprint of the issuer of the certificate the agent presents now, if it has one (a rotation waits for it). */
  certificateIssuer: Type.Optional(CertificateFingerprint),
});
/** {@inheritDoc Ack} */
export type Ack = Static<typeof Ack>;

/** agent → control plane: the table was refused; the agent keeps its previous one. */
export const Nack = Type.Object({
  type: Type.Literal('nack'),
  version: Type.Integer({ minimum: 0 }),
  nonce: Type.String({ maxLength: 64 }),
  error: Type.String({ maxLength: 4096 }),
  /** A stable `MESHLET_*` code when there is one, such as `MESHLET_DELTA_BASE_MISMATCH`. */
  code: Type.Optional(Type.String({ maxLength: 64 })),
});
/** {@inheritDoc Nack} */
export type Nack = Static<typeof Nack>;

/** Either direction: a message was refused. `code` is a stable `MESHLET_*` code. */
export const ErrorMessage = Type.Object({
  type: Type.Literal('error'),
  code: Type.String({ minLength: 1, maxLength: 64 }),
  message: Type.String({ maxLength: 4096 }),
  field: Type.Optional(Type.String({ maxLength: 256 })),
});
/** {@inheritDoc ErrorMessage} */
export type ErrorMessage = Static<typeof ErrorMessage>;

/**
 * agent → control plane: a PKCS#10 request (PEM) for the agent's workload
 * certificate. The control plane certifies the service and instance the agent
 * was admitted for, never what the request claims; it answers `certificate`,
 * or an `error` whose `field` is `csrPem`.
 */
export const Csr = Type.Object({
  type: Type.Literal('csr'),
  csrPem: Type.String({ minLength: 1, maxLength: 16384 }),
});
/** {@inheritDoc Csr} */
export type Csr = Static<typeof Csr>;

/**
 * control plane → agent, right after the hello is admitted: the identity the
 * control plane will certify for this agent (from its credential and its
 * hello, never from a request). The agent builds its `csr` for it; a client
 * that only sends traffic learns its service this way. Absent when the agent
 * has no service to be certified for (a client-only agent admitted without a
 * per-service credential).
 */
export const Identity = Type.Object({
  type: Type.Literal('identity'),
  /** `spiffe://<trustDomain>/svc/<service>` */
  spiffeId: Type.String({ minLength: 1, maxLength: 512 }),
  instanceId: Id,
  /**
   * The roots the control plane's CA certifies under now, PEM. An agent whose
   * trust bundle differs (the CA changed: a restart with a CA in memory, a
   * regenerated one, a rotation) asks for a new certificate at once.
   */
  trustBundlePem: Type.Optional(Type.String({ minLength: 1, maxLength: 262144 })),
  /**
   * The join credential the agent's certificates are issued under now (its
   * id, not a secret): an agent whose certificate names another (a revoked
   * one, before it was given a new credential) asks for a new one at once.
   */
  credentialId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{16}$' })),
});
/** {@inheritDoc Identity} */
export type Identity = Static<typeof Identity>;

/** control plane → agent: the workload certificate answering the agent's `csr`. */
export const Certificate = Type.Object({
  type: Type.Literal('certificate'),
  /** The leaf followed by its issuer chain (never the root), PEM. */
  certChainPem: Type.String({ minLength: 1, maxLength: 65536 }),
  /** The roots every peer is checked against, PEM. */
  trustBundlePem: Type.String({ minLength: 1, maxLength: 262144 }),
  /** When the leaf expires, ms since the epoch. */
  notAfter: Type.Integer({ minimum: 0, maximum: 2 ** 53 - 1 }),
});
/** {@inheritDoc Certificate} */
export type Certificate = Static<typeof Certificate>;

/** Messages an agent sends. */
export type AgentMessage =
  Hello | Heartbeat | Health | Subscribe | Observations | Ack | Nack | Csr | Coord | ErrorMessage;
/** Messages a control plane sends. */
export type ControlMessage = Routes | Identity | Certificate | CoordResult | CoordEvent | ErrorMessage;

/** Schemas of the messages an agent may send, by type. */
export const agentMessageSchemas = {
  hello: Hello,
  heartbeat: Heartbeat,
  health: Health,
  subscribe: Subscribe,
  observations: Observations,
  ack: Ack,
  nack: Nack,
  csr: Csr,
  coord: Coord,
  error: ErrorMessage,
} as const;

/** Schemas of the messages a control plane may send, by type. */
export const controlMessageSchemas = {
  routes: Routes,
  identity: Identity,
  certificate: Certificate,
  coordResult: CoordResult,
  coordEvent: CoordEvent,
  error: ErrorMessage,
} as const;

/** WebSocket close codes meshlet uses (4000-4999 is the application range). */
export const CloseCodes = {
  /** The first message was not a hello, or it came too late. */
  HELLO_REQUIRED: 4001,
  /** The agent speaks another protocol version. */
  VERSION_MISMATCH: 4002,
  /** The join token was missing or wrong. */
  UNAUTHORIZED: 4003,
  /** No heartbeat within the timeout. */
  HEARTBEAT_TIMEOUT: 4008,
  /** A newer connection with the same agent id took over. */
  REPLACED: 4009,
  /** The control-plane replica cannot reach its store (etcd); the agent should use another replica. */
  CUT_OFF: 4010,
  /** Too many wrong join credentials came from the agent's address; a valid one is still let in. */
  TOO_MANY_JOIN_FAILURES: 4029,
  /** Standard: message too big. */
  MESSAGE_TOO_BIG: 1009,
  /** Standard: the server is going away (shutdown). */
  GOING_AWAY: 1001,
} as const;
