import { CoordName, type CoordKind, ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Coordinator } from '../coordination/coordinator.js';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';
import { operatorOf } from './auth.js';

/** What the coordination routes need. */
export interface CoordinationRouteDeps {
  coordinator: Pick<Coordinator, 'list' | 'release'>;
  /** `undefined` while this replica decides; else the leader, if one is known: forced releases are the leader's (its event log). */
  following?: () => { leader: { replicaId: string; url: string } | undefined } | undefined;
}

const ListQuery = Type.Object({ service: Type.Optional(ServiceName) }, { additionalProperties: false });
const LockParams = Type.Object({ service: ServiceName, name: CoordName }, { additionalProperties: false });

const PATHS: Record<CoordKind, { path: string; plural: string; field: 'locks' | 'elections' }> = {
  lock: { path: '/v1/locks', plural: 'locks', field: 'locks' },
  election: { path: '/v1/elections', plural: 'elections', field: 'elections' },
};

/**
 * `/v1/locks` and `/v1/elections`: operators list the application locks and
 * elections held now (all services, or `?service=`), and force one free.
 * A forced release needs an admin token (the auth hook refuses a read-only
 * one before any route runs); it is an event naming the operator's token,
 * and the holder's agent is told (`lost`, reason `forced`). With replicas,
 * the leader forces releases: a follower's event would land in its own log
 * only and raise its sequence past the leader's (so that it dropped the
 * leader's next events); it answers 503 `MESHLET_NOT_LEADER` naming the
 * leader, where meshctl resends.
 */
export function registerCoordinationRoutes(app: FastifyInstance, deps: CoordinationRouteDeps): void {
  for (const kind of ['lock', 'election'] as const) {
    const { path, plural, field } = PATHS[kind];
    app.get<{ Querystring: { service?: string } }>(
      path,
      {
        schema: {
          tags: ['coordination'],
          summary: `The application ${plural} held now: holder, ${kind === 'lock' ? 'fencing token' : 'term'}, TTL`,
          description: `All services, or one with ?service=. A free ${kind} is not listed.`,
          querystring: ListQuery,
        },
      },
      async (req) => ({ [field]: deps.coordinator.list(kind, req.query.service) }),
    );
    app.delete<{ Params: { service: string; name: string } }>(
      `${path}/:service/:name`,
      {
        schema: {
          tags: ['coordination'],
          summary: `Force ${kind === 'lock' ? 'a lock' : 'an election'} free, whoever holds it (admin token)`,
          description:
            'The holder is told it lost it (reason forced) and the event log records who forced it. 404 when it is free.',
          params: LockParams,
        },
      },
      async (req, reply) => {
        const { service, name } = req.params;
        const following = deps.following?.();
        if (following) {
          const leader = following.leader;
          const message = leader
            ? `this control-plane replica follows; a forced release is made by the leader, replica ${leader.replicaId}: send the request to ${leader.url || 'the leader'} (see GET /v1/cluster)`
            : 'this control-plane replica follows and no replica leads right now (is the etcd quorum lost?): try the release again shortly (see GET /v1/cluster)';
          return sendError(reply, ApiErrors.NOT_LEADER(message), leader?.url ? { leader: leader.url } : {});
        }
        const by = operatorOf(req);
        const before = await deps.coordinator.release(kind, service, name, { reason: 'forced', by });
        if (!before)
          return sendError(
            reply,
            ApiErrors.NOT_FOUND(`${kind} "${name}" of service ${service} is not held; see GET ${path}`),
          );
        req.log.info({ kind, service, name, by, token: before.token }, 'forced a coordination release');
        return { released: true, [kind]: before, by };
      },
    );
  }
}
