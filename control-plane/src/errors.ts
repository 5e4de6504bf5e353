import { AdminApiErrorCodes, defineHttpErrors, SharedErrorCodes } from '@meshlet/shared';

/**
 * Stable error codes of the control plane, listed in `docs/errors.md`.
 */
export const ControlPlaneErrorCodes = {
  /** The first stream message was not a hello, or none came in time. */
  HELLO_REQUIRED: 'MESHLET_HELLO_REQUIRED',
  /** An agent presented no join token or a wrong one. */
  JOIN_TOKEN_INVALID: 'MESHLET_JOIN_TOKEN_INVALID',
  /** An agent stopped sending heartbeats. */
  HEARTBEAT_TIMEOUT: 'MESHLET_HEARTBEAT_TIMEOUT',
  /** An agent registered an instance at an address it does not connect from, outside `registration.allowedAddressRanges`. */
  REGISTRATION_REFUSED: 'MESHLET_REGISTRATION_REFUSED',
  /** The store file cannot be read back. */
  STORE_CORRUPT: 'MESHLET_STORE_CORRUPT',
  /** The etcd cluster cannot commit a write (quorum lost, or unreachable) within the request timeout. */
  STORE_UNAVAILABLE: 'MESHLET_STORE_UNAVAILABLE',
  /** A decision only the leader replica makes (manual failover, failback) was asked of a follower. */
  NOT_LEADER: AdminApiErrorCodes.NOT_LEADER,
  /** A control-plane replica that can reach no etcd member turns agents away (close code 4010), so that they use another replica. */
  REPLICA_CUT_OFF: 'MESHLET_REPLICA_CUT_OFF',
  /**
   * A snapshot given to a restore is refused (foreign, corrupted, truncated,
   * out of order, from another cluster), or an incremental snapshot was asked
   * since a revision the store has not reached.
   */
  SNAPSHOT_INVALID: 'MESHLET_SNAPSHOT_INVALID',
  /** A stream's upgrade carried a join credential (`Authorization: Bearer`) this control plane does not accept. */
  STREAM_UNAUTHORIZED: 'MESHLET_STREAM_UNAUTHORIZED',
  /** Too many wrong join credentials came from one address; only a valid one is let through until the block ends. */
  TOO_MANY_JOIN_FAILURES: 'MESHLET_TOO_MANY_JOIN_FAILURES',
  /** Too many streams that have not authenticated yet, from one address or in all. */
  TOO_MANY_UNAUTHENTICATED_STREAMS: 'MESHLET_TOO_MANY_UNAUTHENTICATED_STREAMS',
  /** An admin request had no bearer token or a wrong one. */
  UNAUTHORIZED: 'MESHLET_UNAUTHORIZED',
  /** A read-only token was used for a request that could change state. */
  FORBIDDEN: 'MESHLET_FORBIDDEN',
  /** Too many admin requests with a wrong bearer token came from one address; it must wait. */
  TOO_MANY_AUTH_FAILURES: AdminApiErrorCodes.TOO_MANY_AUTH_FAILURES,
  /** An admin write a web page of another site sent (foreign `Origin`, or no JSON content type nor `x-meshlet-request`). */
  CROSS_SITE_REQUEST: AdminApiErrorCodes.CROSS_SITE_REQUEST,
  /** With no token configured, a `Host` the admin API does not answer to (DNS rebinding protection). */
  HOST_NOT_ALLOWED: AdminApiErrorCodes.HOST_NOT_ALLOWED,
  /** An admin API request body, parameter or query failed validation. */
  API_INVALID: 'MESHLET_API_INVALID',
  /** An admin API request body was over the size limit. */
  API_TOO_LARGE: 'MESHLET_API_TOO_LARGE',
  /** An admin API request named a service, instance, agent or policy that does not exist. */
  NOT_FOUND: 'MESHLET_NOT_FOUND',
  /** An admin API write was based on a stale resourceVersion, or cannot be done in the present state. */
  CONFLICT: 'MESHLET_CONFLICT',
  /** The admin API failed on its side (a bug, or a store write that failed); the log has the details. */
  INTERNAL: 'MESHLET_INTERNAL',
  /** The certificate authority's files are missing, unreadable or inconsistent, or its settings are out of range. */
  CA_INVALID: 'MESHLET_CA_INVALID',
  /** A certificate signing request cannot be parsed, is not signed by its own key, or asks for what meshlet does not certify. */
  CSR_INVALID: 'MESHLET_CSR_INVALID',
  /** A certificate signing request asks for an identity (service, instance, trust domain) its sender is not allowed. */
  CSR_IDENTITY_FORBIDDEN: 'MESHLET_CSR_IDENTITY_FORBIDDEN',
  /**
   * A certificate signing request cannot be answered now: the agent has no
   * service to be certified for, another of its requests is being signed, it
   * came too soon after the last one, or the CA cannot sign.
   */
  CERTIFICATE_UNAVAILABLE: 'MESHLET_CERTIFICATE_UNAVAILABLE',
  /** A policy write would make the routing table exceed `tableBudget` (the agents' NACK carries the same code). */
  TABLE_OVER_BUDGET: SharedErrorCodes.TABLE_OVER_BUDGET,
} as const;

/** One of {@link ControlPlaneErrorCodes}. */
export type ControlPlaneErrorCode = (typeof ControlPlaneErrorCodes)[keyof typeof ControlPlaneErrorCodes];

/**
 * The admin API's errors, each code bound to its HTTP status once (the
 * status column of `docs/errors.md`): `ApiErrors.NOT_FOUND('no service "x"')`.
 * The error handler passes fastify's own status through with `API_INVALID`
 * (such as 415) and `INTERNAL` (any 5xx).
 */
export const ApiErrors = defineHttpErrors(ControlPlaneErrorCodes, {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  TOO_MANY_AUTH_FAILURES: 429,
  STREAM_UNAUTHORIZED: 401,
  TOO_MANY_JOIN_FAILURES: 429,
  TOO_MANY_UNAUTHENTICATED_STREAMS: 503,
  CROSS_SITE_REQUEST: 403,
  HOST_NOT_ALLOWED: 403,
  API_INVALID: 400,
  API_TOO_LARGE: 413,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INTERNAL: 500,
  NOT_LEADER: 503,
  STORE_UNAVAILABLE: 503,
  TABLE_OVER_BUDGET: 422,
});
