/**
 * What the control plane's admin API and its clients (meshctl, scripts) must
 * agree on besides the JSON shapes: the snapshot format, and the error codes
 * a client acts on rather than only shows. Plain values, so that meshctl
 * loads them without the schemas.
 */

/** The `format` of every snapshot document (backup) this version writes and reads. */
export const SNAPSHOT_FORMAT = 'meshlet-snapshot/v1';

/**
 * The header meshctl sends on every request (any value). A control plane or
 * agent admin port without a token refuses a write that carries neither it
 * nor a JSON body: a web page of another site cannot send either without a
 * CORS preflight, which meshlet never grants.
 */
export const ADMIN_REQUEST_HEADER = 'x-meshlet-request';

/** Admin API error codes that change what a client does; every admin API code is in `docs/errors.md`. */
export const AdminApiErrorCodes = {
  /** A follower replica refused a decision of the leader; the error's `leader` field names the leader's URL, to resend to. */
  NOT_LEADER: 'MESHLET_NOT_LEADER',
  /** Too many requests with a wrong token came from this address; wait `Retry-After` seconds. */
  TOO_MANY_AUTH_FAILURES: 'MESHLET_TOO_MANY_AUTH_FAILURES',
  /** A write (or WebSocket) that a web page of another site sent: a foreign `Origin`, or none of the headers a page cannot send across sites. */
  CROSS_SITE_REQUEST: 'MESHLET_CROSS_SITE_REQUEST',
  /** With no token configured, a `Host` that is not an IP address, `localhost` or an allowed name (DNS rebinding). */
  HOST_NOT_ALLOWED: 'MESHLET_HOST_NOT_ALLOWED',
} as const;
