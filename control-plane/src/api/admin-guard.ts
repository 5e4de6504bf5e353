import { adminRequestRefusal, type Logger } from '@meshlet/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';

/** Options of {@link createAdminGuard}. */
export interface AdminGuardConfig {
  /** Whether any bearer token is configured: then a rebound page holds no token, and every `Host` is accepted. */
  tokensConfigured: boolean;
  /** `listen.host` and `auth.allowedHosts`: names accepted as `Host` besides IP addresses and `localhost`. */
  allowedHosts: readonly string[];
  log: Logger;
}

/**
 * Paths whose `Host` is not checked: the agents' stream (agents dial the
 * control plane by whatever name their config has, and every hello needs a
 * join credential a page does not hold) and `/healthz` (which says nothing).
 */
const ANY_HOST = new Set(['/v1/stream', '/healthz']);

/**
 * The control plane's onRequest hook against web pages (see
 * `adminRequestRefusal`): a write (or WebSocket) with a foreign `Origin` is
 * refused with 403 `MESHLET_CROSS_SITE_REQUEST`; while no token is
 * configured, so is a write without a JSON body type or `x-meshlet-request`,
 * and a `Host` that is not an IP address, `localhost`, `listen.host` or in
 * `auth.allowedHosts` gets 403 `MESHLET_HOST_NOT_ALLOWED`. It runs before the token check, so a
 * refused page cannot count as a wrong token either.
 */
export function createAdminGuard(config: AdminGuardConfig) {
  const allowedHosts = config.allowedHosts.map((h) => h.toLowerCase());
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const path = req.url.split('?')[0] ?? '';
    const refusal = adminRequestRefusal(
      { method: req.method, headers: req.headers },
      {
        tokenless: !config.tokensConfigured && !ANY_HOST.has(path),
        allowedHosts,
        allowedHostsSetting: 'auth.allowedHosts',
        orElse: ', or configure an admin token (auth.adminToken)',
      },
    );
    if (refusal === undefined) return undefined;
    config.log.warn(
      {
        remoteAddress: req.socket.remoteAddress,
        method: req.method,
        path,
        host: req.headers.host,
        origin: req.headers.origin,
        kind: refusal.kind,
      },
      refusal.kind === 'host'
        ? 'refused an admin API request for a host name it does not answer to'
        : 'refused an admin API request sent by a web page of another site',
    );
    return sendError(
      reply,
      refusal.kind === 'host'
        ? ApiErrors.HOST_NOT_ALLOWED(refusal.message)
        : ApiErrors.CROSS_SITE_REQUEST(refusal.message),
    );
  };
}
