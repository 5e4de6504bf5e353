import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ControlPlaneErrorCodes } from '../errors.js';

const sha = (s: string) => createHash('sha256').update(s).digest();

/** An onRequest hook that demands `Authorization: Bearer <token>` except on `open` paths. */
export function requireBearer(token: string, open: readonly string[]) {
  const expected = sha(token);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0] ?? '';
    if (open.includes(path)) return;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (given && timingSafeEqual(expected, sha(given))) return;
    await reply.code(401).send({
      error: { code: ControlPlaneErrorCodes.UNAUTHORIZED, message: 'send "Authorization: Bearer <auth.adminToken>"' },
    });
  };
}
