/** What a bearer token may hold and still be sent as one: visible ASCII, no spaces (RFC 6750's b64token, loosely). */
const SENDABLE = /^[\x21-\x7e]+$/;

/**
 * The headers of the agent's stream upgrade: its join credential as
 * `Authorization: Bearer`, so the control plane checks it before any
 * WebSocket message (and a stranger gets a 401 instead of a socket). The
 * hello carries it too, for control planes older than this header; both are
 * the same. An `Authorization` header is what proxies and loggers already
 * treat as a secret. A shared token that cannot be a header value (a space,
 * a non-ASCII letter) is sent in the hello only, as before.
 */
export function streamUpgradeHeaders(joinToken: string | undefined): Record<string, string> {
  return joinToken === undefined || !SENDABLE.test(joinToken) ? {} : { authorization: `Bearer ${joinToken}` };
}
