import type { Duplex } from 'node:stream';

/** How long a socket ended before its hello may take to flush its last frames before it is destroyed. */
export const END_GRACE_MS = 1000;

/**
 * Ends a stream's socket now, without waiting for the peer: what was
 * written to it (an error, the close frame) is flushed, then the socket is
 * destroyed; after `graceMs` at the latest (a peer that does not read keeps
 * the flush from finishing). This is what `ws.terminate()` would be if it
 * let the close frame out first: over TLS, destroying at once drops the
 * frame that is still being encrypted, and the agent would see 1006 instead
 * of the code that tells it why.
 */
export function endSocket(raw: Duplex, graceMs = END_GRACE_MS): void {
  if (raw.destroyed) return;
  const timer = setTimeout(() => raw.destroy(), graceMs);
  timer.unref();
  raw.once('close', () => clearTimeout(timer));
  raw.end(() => raw.destroy());
}
