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
  /** The store file cannot be read back. */
  STORE_CORRUPT: 'MESHLET_STORE_CORRUPT',
  /** An admin request had no bearer token or a wrong one. */
  UNAUTHORIZED: 'MESHLET_UNAUTHORIZED',
} as const;
