import type { CoordState } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import type { Coordination } from '../coordination/coordination.js';
import { WaitCancelled } from '../coordination/lease-service.js';
import { streamCoordEvents } from './coordination-events.js';
import {
  coordInput,
  LockAcquireBody,
  LockRenewBody,
  LongPollQuery,
  NameParams,
  TokenQuery,
} from './coordination-input.js';
import { appGoneSignal, busy, heldBy, readState } from './coordination-reply.js';

/** A lock's lease when the app asks for none (Consul's session default is 15 s too). */
export const DEFAULT_LOCK_TTL_MS = 15_000;

/** A lock's state as the app reads it: the store's {@link CoordState}. */
const lockView = (state: CoordState): Record<string, unknown> => ({ ...state });

/**
 * The app's lock API on the agent's admin listener (see docs/coordination.md):
 * `POST /v1/locks/NAME` acquire (waiting up to `waitMs`), `PUT` renew,
 * `DELETE ?token=` release, `GET` (a long-poll with `index` and `waitMs`),
 * `GET /v1/locks/NAME/events` a server-sent events stream.
 */
export function registerLockRoutes(app: FastifyInstance, coordination: Coordination): void {
  app.post('/v1/locks/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const body = params && coordInput(LockAcquireBody, req.body, 'body', reply);
    if (params === undefined || body === undefined) return reply;
    const waitMs = body.waitMs ?? 0;
    const give = waitMs > 0 ? coordination.openRequests.take() : () => undefined;
    if (give === undefined) return busy(reply, coordination);
    try {
      const ttlMs = body.ttlMs ?? DEFAULT_LOCK_TTL_MS;
      const outcome = await coordination.leases.acquire(
        'lock',
        params.name,
        { ttlMs, waitMs, label: body.label, releaseOnUnhealthy: body.releaseOnUnhealthy },
        appGoneSignal(reply),
      );
      if (!outcome.ok) return heldBy(reply, `lock "${params.name}"`, outcome.state, waitMs, false);
      const g = outcome.grant;
      return {
        name: params.name,
        service: g.state.service,
        token: g.token,
        ttlMs: g.ttlMs,
        expiresAt: g.expiresAt,
        holder: g.state.holder ?? null,
      };
    } catch (e) {
      if (e instanceof WaitCancelled) return reply.code(499).send();
      throw e;
    } finally {
      give();
    }
  });

  app.put('/v1/locks/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const body = params && coordInput(LockRenewBody, req.body, 'body', reply);
    if (params === undefined || body === undefined) return reply;
    const g = await coordination.leases.renew('lock', params.name, body.token, body.ttlMs);
    return { token: g.token, ttlMs: g.ttlMs, expiresAt: g.expiresAt };
  });

  app.delete('/v1/locks/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const query = params && coordInput(TokenQuery, req.query, 'query', reply);
    if (params === undefined || query === undefined) return reply;
    await coordination.leases.release('lock', params.name, query.token);
    return { released: true };
  });

  app.get('/v1/locks/:name', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    const query = params && coordInput(LongPollQuery, req.query, 'query', reply);
    if (params === undefined || query === undefined) return reply;
    const state = await readState(coordination, 'lock', params.name, query, reply);
    return state === undefined ? reply : lockView(state);
  });

  app.get('/v1/locks/:name/events', async (req, reply) => {
    const params = coordInput(NameParams, req.params, 'params', reply);
    if (params === undefined) return reply;
    await streamCoordEvents(coordination, 'lock', params.name, lockView, req, reply);
    return reply;
  });
}
