import { httpErrorBody, jsonClientErrorHandler } from '@meshlet/shared';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AgentErrors } from '../errors.js';

/**
 * The admin listener's `clientErrorHandler` (a fastify option): a request
 * node's parser refuses (a malformed request line, headers over 16 KiB, a
 * timeout) gets `MESHLET_BAD_REQUEST` with 400, 431 or 408 and the fix,
 * before the connection closes, instead of fastify's shape.
 */
export const adminClientErrors = jsonClientErrorHandler((code) => {
  if (code === 'HPE_HEADER_OVERFLOW')
    return AgentErrors.BAD_REQUEST(
      'the request line and headers are over 16 KiB; send a shorter URL and fewer headers',
      {
        statusCode: 431,
      },
    );
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return AgentErrors.BAD_REQUEST('the request did not arrive whole in time; send it at once', { statusCode: 408 });
  return AgentErrors.BAD_REQUEST(`the request is not valid HTTP/1.1${code ? ` (${code})` : ''}; check the client`);
});

/**
 * Fastify's refusals before any route runs (a path with a broken
 * percent-encoding, a parameter over the length limit), as
 * `MESHLET_BAD_REQUEST` naming the path and the fix: the `frameworkErrors`
 * option of the admin listener.
 */
export function adminFrameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = ((req.raw.url ?? '').split('?')[0] ?? '').slice(0, 200);
  const e = AgentErrors.BAD_REQUEST(
    `the path ${path} is not a valid URL: a "%" must start an escape such as %2F; write %25 for "%" itself`,
    { statusCode: err.statusCode ?? 400 },
  );
  void reply.code(e.statusCode).send(httpErrorBody(e, { field: 'path' }));
}

/** An unknown route or method: 404 `MESHLET_BAD_REQUEST` listing the admin routes, instead of fastify's shape. */
export function adminNotFound(req: FastifyRequest, reply: FastifyReply): void {
  const e = AgentErrors.BAD_REQUEST(
    `no route ${req.method} ${(req.raw.url ?? '').split('?')[0]?.slice(0, 200)}: the admin listener has GET /ready, /config, /metrics, /identity, /log-level and PUT /log-level, and for the app /v1/locks/NAME and /v1/elections/NAME (docs/coordination.md)`,
    { statusCode: 404 },
  );
  void reply.code(404).send(httpErrorBody(e));
}
