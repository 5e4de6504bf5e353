import { Id, ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { EventLog } from '../events/event-log.js';
import type { ManagedFailover } from '../failover/managed/managed-failover.js';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';
import { operatorOf } from './auth.js';

/** What the managed failover routes need. */
export interface FailoverRouteDeps {
  managed: Pick<ManagedFailover, 'describe' | 'requestSwitchover'>;
  events: Pick<EventLog, 'list'>;
  knownService: (service: string) => boolean;
  /** `undefined` while this replica decides; else the leader, if one is known. */
  following?: () => { leader: { replicaId: string; url: string } | undefined } | undefined;
}

const Params = Type.Object({ name: ServiceName }, { additionalProperties: false });
const SwitchoverBody = Type.Object(
  { to: Type.String({ ...Id, fix: 'give the id of the instance that is to become the primary' }) },
  { additionalProperties: false },
);

/** How many of the service's newest `primary` events `GET …/failover` shows. */
export const FAILOVER_EVENTS_SHOWN = 20;

const notManaged = (name: string) =>
  ApiErrors.API_INVALID(
    `service ${name} is not in managed failover: set policy.failover.mode to managed (PUT /v1/policies/${name}) first`,
  );

/**
 * `GET /v1/services/NAME/failover`: a managed service's term, holder,
 * primary, candidates and switchover, each instance's standing (role, offset,
 * lag, priority) and its newest failover events. `POST
 * /v1/services/NAME/switchover {to}`: hands the primary over to `to` (an
 * admin token: the auth hook refuses a read-only one before any route runs);
 * the leader decides it (a follower answers 503 `MESHLET_NOT_LEADER` naming
 * the leader, as the other map-changing routes). Refused 400 (not managed),
 * 404 (no such service or instance), 409 (the target is not a healthy
 * replica within `maxLagBytes`, no primary, one in progress) with the field
 * and the fix. See docs/databases.md.
 */
export function registerFailoverRoutes(app: FastifyInstance, deps: FailoverRouteDeps): void {
  app.get<{ Params: { name: string } }>(
    '/v1/services/:name/failover',
    {
      schema: {
        tags: ['services'],
        summary: "A managed service's failover: term, primary, candidates, switchover, instances, recent events",
        params: Params,
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      if (!deps.knownService(name))
        return sendError(reply, ApiErrors.NOT_FOUND(`no service "${name}"; see GET /v1/services`));
      const d = deps.managed.describe(name);
      if (d === undefined) return sendError(reply, notManaged(name));
      return { ...d, events: deps.events.list({ service: name, kind: 'primary', limit: FAILOVER_EVENTS_SHOWN }) };
    },
  );
  app.post<{ Params: { name: string }; Body: { to: string } }>(
    '/v1/services/:name/switchover',
    {
      schema: {
        tags: ['services'],
        summary: 'Hand the primary of a managed service over to a caught-up replica (admin token)',
        description:
          'The primary waits for the target to reach its offset, stops taking writes, demotes and resigns; the target takes the next term. Abandoned after policy.failover.switchoverTimeoutMs.',
        params: Params,
        body: SwitchoverBody,
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      const following = deps.following?.();
      if (following) {
        const leader = following.leader;
        const message = leader
          ? `this control-plane replica follows; a switchover is decided by the leader, replica ${leader.replicaId}: send the request to ${leader.url || 'the leader'} (see GET /v1/cluster)`
          : 'this control-plane replica follows and no replica leads right now (is the etcd quorum lost?): try the switchover again shortly (see GET /v1/cluster)';
        return sendError(reply, ApiErrors.NOT_LEADER(message), leader?.url ? { leader: leader.url } : {});
      }
      if (!deps.knownService(name))
        return sendError(reply, ApiErrors.NOT_FOUND(`no service "${name}"; see GET /v1/services`));
      const by = operatorOf(req);
      const out = deps.managed.requestSwitchover(name, req.body.to, by);
      if (!out.ok) {
        const err =
          out.status === 400
            ? ApiErrors.API_INVALID(out.message)
            : out.status === 404
              ? ApiErrors.NOT_FOUND(out.message)
              : ApiErrors.CONFLICT(out.message);
        return sendError(reply, err, out.field ? { field: out.field } : {});
      }
      req.log.info({ service: name, to: req.body.to, by, term: out.state.term }, 'switchover requested');
      return reply.code(202).send({ service: name, state: out.state, by });
    },
  );
}
