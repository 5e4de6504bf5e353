import type { Server } from 'node:http';
import type { Http2Server, Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

/** The HTTP/2 sessions served on each HTTP server's connections (see {@link trackH2Sessions}). */
const h2Sessions = new WeakMap<Server, Set<Http2Session>>();

/**
 * Keeps the sessions `h2` serves on connections `server` accepted (they are
 * handed over by their first bytes), so that {@link closeServer} closes
 * them: a session is a connection the HTTP/1.1 server does not see as idle.
 */
export function trackH2Sessions(server: Server, h2: Http2Server): void {
  const sessions = new Set<Http2Session>();
  h2Sessions.set(server, sessions);
  h2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
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
    for (const session of h2Sessions.get(server) ?? []) session.close();
  });
}
