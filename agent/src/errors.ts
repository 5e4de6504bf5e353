import { AdminApiErrorCodes, defineHttpErrors, SharedErrorCodes } from '@meshlet/shared';

/**
 * Stable error codes of the agent's data path, listed in `docs/errors.md`.
 * Each reaches the caller as a JSON body `{ error: { code, message, ... } }`
 * and an `x-meshlet-error` header.
 */
export const AgentErrorCodes = {
  /** The request named no service (no absolute URL and no Host header). */
  BAD_REQUEST: 'MESHLET_BAD_REQUEST',
  /** The agent has no routing table yet: none persisted, none received. */
  NO_ROUTING_TABLE: 'MESHLET_NO_ROUTING_TABLE',
  /** The service is not in the routing table. */
  UNKNOWN_SERVICE: 'MESHLET_UNKNOWN_SERVICE',
  /** The service has no healthy endpoint. */
  NO_HEALTHY_ENDPOINT: 'MESHLET_NO_HEALTHY_ENDPOINT',
  /** Every attempt to reach an endpoint failed to connect or was reset. */
  UPSTREAM_UNREACHABLE: 'MESHLET_UPSTREAM_UNREACHABLE',
  /** The upstream did not answer within the request timeout. */
  UPSTREAM_TIMEOUT: 'MESHLET_UPSTREAM_TIMEOUT',
  /** The inbound listener could not connect to the local app. */
  APP_UNREACHABLE: 'MESHLET_APP_UNREACHABLE',
  /** The local app closed or reset the connection before answering. */
  APP_RESET: 'MESHLET_APP_RESET',
  /** The service's local rate limit refused the request. */
  RATE_LIMITED: 'MESHLET_RATE_LIMITED',
  /** The service's circuit breaker is open: too many requests in flight and waiting. */
  CIRCUIT_OPEN: 'MESHLET_CIRCUIT_OPEN',
  /** The callee's authorization policy does not allow this caller, method or path. */
  AUTHZ_DENIED: 'MESHLET_AUTHZ_DENIED',
  /** The agent holds no routing table entry for its own service yet, so it cannot know its authorization policy. */
  AUTHZ_POLICY_UNKNOWN: 'MESHLET_AUTHZ_POLICY_UNKNOWN',
  /** The service's fault injection aborted the request (a drill). */
  FAULT_INJECTED: 'MESHLET_FAULT_INJECTED',
  /** A plaintext request reached an inbound listener whose service requires mutual TLS (`mtls.mode: strict`). */
  MTLS_REQUIRED: 'MESHLET_MTLS_REQUIRED',
  /**
   * This agent cannot call an mTLS endpoint: it has no workload certificate
   * yet, or its own expired (the control plane is unreachable). Nothing was
   * sent; no endpoint is blamed.
   */
  IDENTITY_UNAVAILABLE: 'MESHLET_IDENTITY_UNAVAILABLE',
  /**
   * Under `outboundTrafficPolicy.mode: allow-any`, a request or CONNECT for a
   * host outside the mesh named the agent's own listeners or its control plane.
   */
  PASSTHROUGH_FORBIDDEN: 'MESHLET_PASSTHROUGH_FORBIDDEN',
  /** The admin listener refused a write (or WebSocket) that a web page of another site sent. */
  CROSS_SITE_REQUEST: AdminApiErrorCodes.CROSS_SITE_REQUEST,
  /** The admin listener refused a `Host` that is not an IP address, `localhost` or an allowed name (DNS rebinding). */
  HOST_NOT_ALLOWED: AdminApiErrorCodes.HOST_NOT_ALLOWED,
  /** An app asked for a lock or leadership someone else holds. */
  LOCK_HELD: SharedErrorCodes.LOCK_HELD,
  /** An app renewed or released a lock (or term) it no longer holds. */
  LOCK_NOT_HELD: SharedErrorCodes.LOCK_NOT_HELD,
  /** The agent cannot reach the control plane for a coordination request (never a lock from a cache). */
  COORDINATION_UNAVAILABLE: SharedErrorCodes.COORDINATION_UNAVAILABLE,
  /** A request to a range-sharded service carries no shard key, or one it cannot be routed by (repeated, too long, not an integer). */
  SHARD_KEY_INVALID: 'MESHLET_SHARD_KEY_INVALID',
  /** A request's shard key falls in no range of the service's map. */
  SHARD_KEY_UNROUTABLE: 'MESHLET_SHARD_KEY_UNROUTABLE',
  /** A coordination request (`/v1/locks`, `/v1/elections`) came from a peer other than the app on the agent's host. */
  COORDINATION_FORBIDDEN: 'MESHLET_COORDINATION_FORBIDDEN',
  /** The app holds as many open coordination requests (streams, long-polls, waits) as the agent allows. */
  COORDINATION_BUSY: 'MESHLET_COORDINATION_BUSY',
  /** A shard map was asked of a service whose balancer gives keys no owner (not `ring_hash` or `maglev`). */
  NOT_SHARDED: 'MESHLET_NOT_SHARDED',
  /** A TCP connection's preamble between agents is not one valid line of at most 1 KiB, or came too slowly. */
  TCP_PREAMBLE_INVALID: 'MESHLET_TCP_PREAMBLE_INVALID',
  /** A TCP preamble named a service this agent does not front, or its service is not `protocol: tcp`. */
  TCP_WRONG_SERVICE: 'MESHLET_TCP_WRONG_SERVICE',
  /** A `role: primary` connection to a managed service while its table names no primary (a failover in progress): refused, never sent to a guess. */
  NO_PRIMARY: 'MESHLET_NO_PRIMARY',
  /** A caller asked this instance for its managed service's primary, and it is not that term's primary now (fenced). */
  PRIMARY_FENCED: 'MESHLET_PRIMARY_FENCED',
  /** A dedicated upstream port with `role` whose service is not `protocol: tcp`: the role cannot be honoured, the connection is refused. */
  UPSTREAM_ROLE_UNSUPPORTED: 'MESHLET_UPSTREAM_ROLE_UNSUPPORTED',
} as const;

/** One of {@link AgentErrorCodes}. */
export type AgentErrorCode = (typeof AgentErrorCodes)[keyof typeof AgentErrorCodes];

/**
 * The agent's answers, each code bound to its HTTP status once (the status
 * column of `docs/errors.md`): `AgentErrors.UNKNOWN_SERVICE(message)`, or the
 * definition itself where only its `code` and `statusCode` are needed. Two
 * answers override the status (`{ statusCode }`): the admin listener's
 * `BAD_REQUEST` passes fastify's own 4xx, and a failure inside the agent is
 * `UPSTREAM_UNREACHABLE` with 500. `FAULT_INJECTED` has no status of its
 * own: it answers with the one its policy configures
 * (`new MeshletHttpError(code, status, message)`).
 */
export const AgentErrors = defineHttpErrors(AgentErrorCodes, {
  BAD_REQUEST: 400,
  NO_ROUTING_TABLE: 503,
  UNKNOWN_SERVICE: 404,
  NO_HEALTHY_ENDPOINT: 503,
  UPSTREAM_UNREACHABLE: 502,
  UPSTREAM_TIMEOUT: 504,
  APP_UNREACHABLE: 502,
  APP_RESET: 502,
  RATE_LIMITED: 429,
  CIRCUIT_OPEN: 503,
  MTLS_REQUIRED: 403,
  AUTHZ_DENIED: 403,
  AUTHZ_POLICY_UNKNOWN: 503,
  IDENTITY_UNAVAILABLE: 503,
  PASSTHROUGH_FORBIDDEN: 403,
  CROSS_SITE_REQUEST: 403,
  HOST_NOT_ALLOWED: 403,
  LOCK_HELD: 409,
  LOCK_NOT_HELD: 409,
  COORDINATION_UNAVAILABLE: 503,
  SHARD_KEY_INVALID: 400,
  SHARD_KEY_UNROUTABLE: 404,
  COORDINATION_FORBIDDEN: 403,
  COORDINATION_BUSY: 429,
  NOT_SHARDED: 409,
  TCP_PREAMBLE_INVALID: 400,
  TCP_WRONG_SERVICE: 421,
  NO_PRIMARY: 503,
  PRIMARY_FENCED: 503,
  UPSTREAM_ROLE_UNSUPPORTED: 503,
});

/** Header that carries the error code on every answer the agent makes itself. */
export const ERROR_HEADER = 'x-meshlet-error';

/** Header that says why the circuit breaker refused a request: `max_pending` or `pending_timeout`. */
export const CIRCUIT_HEADER = 'x-meshlet-circuit-open';
