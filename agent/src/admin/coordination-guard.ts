import { httpErrorBody, type Logger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { AgentErrors } from '../errors.js';

/** The peer addresses that count as the app on the agent's host: the loopback addresses an app connects from by default. */
const APP_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Coordination routes answer the app on the agent's host only, whatever
 * `listeners.admin.host` is: a lock is the app's, and anyone who can reach an
 * admin listener bound to 0.0.0.0 (another host, another pod's process on a
 * shared node) could otherwise take it, release it or campaign. The rule is
 * exact: the peer must be 127.0.0.1 or ::1 (IPv4-mapped too), the addresses
 * an app connects from when it calls 127.0.0.1:15000 or [::1]:15000. Other
 * loopback addresses (127.0.0.2) are refused as well: a process that binds
 * them on purpose is not the app calling its agent. A page of another site
 * is refused even for a read (its `Origin` or `Sec-Fetch-Site` says so): it
 * could not read the answer, but it could hold long-polls and streams open.
 * The admin guard (Host check, cross-site writes) runs before this.
 *
 * `scope` must be the encapsulated plugin that holds the coordination routes
 * and nothing else: the hook guards every route of that scope, as matched
 * (the router decodes the path first, so `/v1/%6cocks/x` is the lock route),
 * never by testing the raw URL.
 */
export function installCoordinationGuard(scope: FastifyInstance, log: Logger): void {
  scope.addHook('onRequest', async (req, reply) => {
    const peer = req.socket.remoteAddress ?? '';
    if (APP_ADDRESSES.has(peer)) {
      const site = String(req.headers['sec-fetch-site'] ?? '').toLowerCase();
      const origin = req.headers.origin;
      const foreign = origin !== undefined && origin !== `http://${req.headers.host ?? ''}`;
      if (site !== 'cross-site' && site !== 'same-site' && !foreign) return undefined;
      const err = AgentErrors.CROSS_SITE_REQUEST(
        `refused a ${req.method} of the coordination API from a web page (${origin ?? `sec-fetch-site: ${site}`}): ` +
          'locks and elections are for the app on this host; call them from the app, with curl or fetch from Node',
      );
      return reply.code(err.statusCode).send(httpErrorBody(err));
    }
    log.warn(
      { remoteAddress: peer, method: req.method, route: req.routeOptions.url },
      'refused a coordination request from a peer that is not the app on this host',
    );
    const err = AgentErrors.COORDINATION_FORBIDDEN(
      `locks and elections answer only the app on the agent's host, connecting from 127.0.0.1 or ::1; this request ` +
        `came from ${peer}: call http://127.0.0.1:<admin port> from the app itself (whatever listeners.admin.host is)`,
    );
    return reply.code(err.statusCode).send(httpErrorBody(err));
  });
}
