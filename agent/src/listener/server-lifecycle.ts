import type { Server } from 'node:http';
import type { Http2Server, Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** The HTTP/2 sessions served on each HTTP server's connections (see {@link trackH2Sessions}). */
const h2Sessions = new WeakMap<
  Server,
  { sessions: Set<Http2Session>; closing: boolean; untracked: Set<{ destroy(): void }> }
>();

/**
 * Keeps the sessions `h2` serves on connections `server` accepted (they are
 * handed over by their first bytes), so that {@link closeServer} closes
 * them: a session is a connection the HTTP/1.1 server does not see as idle.
 * A session with no stream open for the server's keep-alive timeout (the
 * listener's `idleTimeoutMs`) is closed gracefully, as an idle HTTP/1.1
 * connection is; one whose streams are quiet (a long stream with nothing
 * to say) is not.
 */
export function trackH2Sessions(server: Server, h2: Http2Server): void {
  const state = { sessions: new Set<Http2Session>(), closing: false, untracked: new Set<{ destroy(): void }>() };
  const sessions = state.sessions;
  h2Sessions.set(server, state);
  h2.on('session', (session: Http2Session) => {
    // One whose first bytes came after the server began closing: told to go away at once.
    if (state.closing) session.close();
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    let open = 0;
    session.on('stream', (stream: { once(e: 'close', f: () => void): void }) => {
      open++;
      stream.once('close', () => open--);
    });
    const idleMs = server.keepAliveTimeout;
    if (idleMs > 0)
      session.setTimeout(idleMs, () => {
        if (open === 0) session.close();
      });
  });
}

/**
 * Counts `socket` as a connection of `server` that neither its HTTP/1.1
 * nor its HTTP/2 side knows (one whose protocol is not known yet, a raw
 * pass-through tunnel) until the returned function is called:
 * {@link closeServer} destroys such connections at once, as it closes idle
 * HTTP/1.1 ones, so that they cannot keep a stopping agent waiting.
 */
export function closedWithServer(server: Server, socket: { destroy(): void }): () => void {
  const state = h2Sessions.get(server);
  if (state === undefined) return () => undefined;
  if (state.closing) {
    socket.destroy();
    return () => undefined;
  }
  state.untracked.add(socket);
  return () => state.untracked.delete(socket);
}

/** Binds `server` to `host:port` and resolves with the port bound (the one chosen when `port` is 0). */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops `server` taking connections and closes its idle ones; resolves once every connection is gone. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Gracefully: GOAWAY, the streams in flight finish, then the connection closes.
    const h2 = h2Sessions.get(server);
    if (h2 !== undefined) {
      h2.closing = true;
      for (const session of h2.sessions) session.close();
      // Connections that have not said which protocol they speak are idle ones, and raw tunnels have no end to wait
      // for: closed, as idle HTTP/1.1 ones are.
      for (const socket of h2.untracked) socket.destroy();
    }
  });
}
