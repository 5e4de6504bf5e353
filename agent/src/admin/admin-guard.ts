import { adminRequestRefusal, httpErrorBody, type Logger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { AgentErrors } from '../errors.js';

/**
 * Refuses, before any route, what a web page the operator opens could send
 * to the agent's admin listener (see `adminRequestRefusal`): it has no
 * token, so its `Host` is always checked (IP addresses, `localhost`,
 * `listeners.admin.host` and `listeners.admin.allowedHosts` pass, against DNS
 * rebinding), and a write needs a same-origin or absent `Origin` and
 * `content-type: application/json` or `x-meshlet-request`.
 */
export function installAdminGuard(app: FastifyInstance, allowedHosts: readonly string[], log: Logger): void {
  const hosts = allowedHosts.map((h) => h.toLowerCase());
  app.addHook('onRequest', async (req, reply) => {
    const refusal = adminRequestRefusal(
      { method: req.method, headers: req.headers },
      {
        tokenless: true,
        allowedHosts: hosts,
        allowedHostsSetting: 'listeners.admin.allowedHosts',
        orElse: '',
      },
    );
    if (refusal === undefined) return undefined;
    log.warn(
      {
        remoteAddress: req.socket.remoteAddress,
        method: req.method,
        path: req.url.split('?')[0],
        host: req.headers.host,
        origin: req.headers.origin,
        kind: refusal.kind,
      },
      refusal.kind === 'host'
        ? 'refused an admin request for a host name the admin listener does not answer to'
        : 'refused an admin request sent by a web page of another site',
    );
    const err =
      refusal.kind === 'host'
        ? AgentErrors.HOST_NOT_ALLOWED(refusal.message)
        : AgentErrors.CROSS_SITE_REQUEST(refusal.message);
    return reply.code(err.statusCode).send(httpErrorBody(err));
  });
}
