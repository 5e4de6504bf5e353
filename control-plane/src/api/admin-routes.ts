import type {} from '@fastify/swagger';
import { Id, ServiceName, ServicePolicy, type ShardingPolicy, shardingPolicyIssues } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiErrors } from '../errors.js';
import type { EventLog, MeshEvent } from '../events/event-log.js';
import type { FailoverEngine } from '../failover/failover-engine.js';
import type { PolicyStore, PolicyWrite } from '../policies/policy-store.js';
import { sendError } from './api-errors.js';
import { tokenNameOf } from './auth.js';
import { eventFilter } from './read-routes.js';

/** What the write routes need from the control plane. */
export interface AdminDeps {
  policies: PolicyStore;
  failover: FailoverEngine;
  events: EventLog;
  /** `undefined` while this replica decides; else the leader, if one is known: decisions (manual failover and failback) are its to make. */
  following: () => { leader: { replicaId: string; url: string } | undefined } | undefined;
  /** Drains or undrains an instance durably; false for an unknown instance. */
  drain: (instanceId: string, reason: string) => Promise<boolean>;
  undrain: (instanceId: string) => Promise<boolean>;
  /** Whether the control plane knows the service (registered, remembered, or named by a policy): else failover and failback answer 404. */
  knownService: (service: string) => boolean;
  /** The services in the routing table (registered or remembered), sorted: those without a policy run on the defaults. */
  serviceNames: () => string[];
  /** The instance's service and state after a drain or undrain. */
  instanceState: (instanceId: string) => { service: string; state: string } | undefined;
  /** Why the table would exceed its budget with `policy` for `service`, or `undefined` when it fits. */
  policyBudget?: (service: string, policy: unknown) => string | undefined;
  /** Called after a policy changed: a new table follows. */
  policiesChanged: () => void;
  /** A full snapshot, or the changes since `since`; throws a MeshletError when `since` is ahead of the store. */
  snapshot: (since: number | undefined) => unknown;
  /** Verifies and restores; an error text (nothing changed) or what was restored. */
  restore: (
    snapshots: unknown[],
  ) => Promise<{ ok: true; keys: number; revision: number } | { ok: false; message: string; field?: string }>;
}

const ServiceParams = Type.Object({ name: ServiceName }, { additionalProperties: false });
const InstanceParams = Type.Object({ id: Id }, { additionalProperties: false });
const ResourceVersion = Type.String({
  pattern: '^[0-9]{1,16}$',
  fix: 'send the resourceVersion from the last GET, such as "12"',
});
// The policy schema defaults to {} (a service without one in the config file); in a PUT body it is required.
const { default: _default, ...RequiredPolicy } = ServicePolicy;
const PutPolicyBody = Type.Object(
  {
    /** Only the fields to set; the rest take their defaults. */
    policy: RequiredPolicy as typeof ServicePolicy,
    resourceVersion: Type.Optional(ResourceVersion),
  },
  { additionalProperties: false },
);
const DeletePolicyQuery = Type.Object(
  { resourceVersion: Type.Optional(ResourceVersion) },
  { additionalProperties: false },
);
const DrainBody = Type.Union([
  Type.Null(),
  Type.Object(
    { reason: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) },
    { additionalProperties: false },
  ),
]);
const IncrementalQuery = Type.Object(
  {
    since: Type.String({ pattern: '^[0-9]{1,16}$', fix: 'send the revision of the previous backup, such as since=42' }),
  },
  { additionalProperties: false },
);
const RestoreBody = Type.Object(
  {
    snapshots: Type.Array(Type.Unknown(), {
      minItems: 1,
      maxItems: 1000,
      fix: 'send the full snapshot first, then its incrementals in order',
    }),
  },
  { additionalProperties: false },
);

/** A refused policy write: the policy store's 404 is a missing API policy, its 409 a stale resourceVersion. */
const policyError = (result: Extract<PolicyWrite, { ok: false }>) =>
  (result.status === 404 ? ApiErrors.NOT_FOUND : ApiErrors.CONFLICT)(result.message);

/** Restores may carry a whole store. */
const RESTORE_BODY_LIMIT = 64 * 1024 * 1024;
const KEEP_ALIVE_MS = 15_000;
/** A stream client this far behind is dropped; it reconnects with Last-Event-ID and gets the backlog. */
const MAX_STREAM_BUFFER_BYTES = 1024 * 1024;

/**
 * The admin API's write routes (policies, drain, failover, snapshots) and
 * the live event stream. Each write is validated against its schema before
 * the handler runs; the same schemas generate the OpenAPI document.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { policies, failover, events } = deps;

  app.get(
    '/v1/policies',
    {
      schema: {
        tags: ['policies'],
        summary: 'Every configured service policy, with its source and resourceVersion; and the defaults in force',
        description:
          'items: the policies from the API or the config file. defaults: the policy every other service runs on, and the services in the routing table that do.',
      },
    },
    async () => {
      const configured = policies.configured();
      return {
        items: configured.map((s) => policies.item(s)),
        defaults: {
          services: deps.serviceNames().filter((s) => !configured.includes(s)),
          policy: policies.defaultPolicy(),
        },
      };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/v1/policies/:name',
    {
      schema: {
        tags: ['policies'],
        summary: "A service's policy in force (API, config file or defaults)",
        params: ServiceParams,
      },
    },
    async (req) => policies.item(req.params.name),
  );

  app.put<{ Params: { name: string }; Body: { policy: unknown; resourceVersion?: string } }>(
    '/v1/policies/:name',
    {
      schema: {
        tags: ['policies'],
        summary: 'Create or replace the policy of a service',
        description:
          'Fields left out take their defaults. With resourceVersion ("0" to create), the write happens only if it is still current; otherwise 409.',
        params: ServiceParams,
        body: PutPolicyBody,
      },
    },
    async (req, reply) => {
      // The schema passed; a range map's order, overlap, integers and owners are refused the same way.
      const sharding = (req.body.policy as { sharding?: ShardingPolicy }).sharding;
      const issues = sharding ? shardingPolicyIssues(sharding, 'policy.sharding.') : [];
      if (issues[0] !== undefined)
        return sendError(
          reply,
          ApiErrors.API_INVALID(`invalid body: ${issues.map((i) => `${i.path} ${i.problem}`).join('; ')}`),
          { field: issues[0].path, issues },
        );
      const overBudget = deps.policyBudget?.(req.params.name, req.body.policy);
      if (overBudget !== undefined)
        return sendError(reply, ApiErrors.TABLE_OVER_BUDGET(overBudget), { field: 'policy.balancer' });
      if (sharding !== undefined || policies.policyOf(req.params.name).sharding !== undefined) {
        const refused = mapWriteOnFollower(deps.following());
        if (refused) return sendError(reply, ApiErrors.NOT_LEADER(refused.message), refused.extra);
      }
      const by = { by: tokenNameOf(req) ?? 'no token configured' };
      const result = await policies.put(req.params.name, req.body.policy, req.body.resourceVersion, by);
      if (!result.ok) return sendError(reply, policyError(result), { field: 'resourceVersion' });
      deps.policiesChanged();
      return result.item;
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { resourceVersion?: string } }>(
    '/v1/policies/:name',
    {
      schema: {
        tags: ['policies'],
        summary: 'Delete the API policy of a service (the config file or defaults apply again)',
        params: ServiceParams,
        querystring: DeletePolicyQuery,
      },
    },
    async (req, reply) => {
      if (policies.policyOf(req.params.name).sharding !== undefined) {
        const refused = mapWriteOnFollower(deps.following());
        if (refused) return sendError(reply, ApiErrors.NOT_LEADER(refused.message), refused.extra);
      }
      const by = { by: tokenNameOf(req) ?? 'no token configured' };
      const result = await policies.delete(req.params.name, req.query.resourceVersion, by);
      if (!result.ok) {
        return sendError(reply, policyError(result));
      }
      deps.policiesChanged();
      return { service: req.params.name, deleted: true };
    },
  );

  for (const action of ['drain', 'undrain'] as const) {
    app.post<{ Params: { id: string }; Body: { reason?: string } | null }>(
      `/v1/instances/:id/${action}`,
      {
        schema: {
          tags: ['instances'],
          summary:
            action === 'drain'
              ? 'Drain an instance: callers send it no new requests (kept across restarts)'
              : 'End a drain',
          params: InstanceParams,
          ...(action === 'drain' ? { body: DrainBody } : {}),
        },
      },
      async (req, reply) => {
        const id = req.params.id;
        const done =
          action === 'drain'
            ? await deps.drain(id, req.body?.reason ?? 'drained by an operator')
            : await deps.undrain(id);
        const now = deps.instanceState(id);
        if (!done || !now)
          return sendError(reply, ApiErrors.NOT_FOUND(`no instance "${id}" with a known state; see GET /v1/instances`));
        return { id, ...now };
      },
    );
  }

  for (const action of ['failover', 'failback'] as const) {
    app.post<{ Params: { name: string } }>(
      `/v1/services/:name/${action}`,
      {
        schema: {
          tags: ['services'],
          summary:
            action === 'failover'
              ? 'Move the service to its next healthy tier and keep it there'
              : 'Return the service to its lowest healthy tier now',
          params: ServiceParams,
        },
      },
      async (req, reply) => {
        const following = deps.following();
        if (following) {
          const leader = following.leader;
          const message = leader
            ? `this control-plane replica follows; manual ${action} is a decision of the leader, replica ${leader.replicaId}: send the request to ${leader.url || 'the leader'} (see GET /v1/cluster)`
            : `this control-plane replica follows and no replica leads right now (is the etcd quorum lost?); manual ${action} is a decision of the leader: try again shortly (see GET /v1/cluster)`;
          return sendError(reply, ApiErrors.NOT_LEADER(message), leader?.url ? { leader: leader.url } : {});
        }
        // An unknown name (a typo) is a 404 as for GET /v1/services/NAME, not the 409 of a service with one tier.
        if (!deps.knownService(req.params.name))
          return sendError(reply, ApiErrors.NOT_FOUND(`no service "${req.params.name}"; see GET /v1/services`));
        const result = failover[action](req.params.name, `manual ${action} through the admin API`);
        if (!result.ok) return sendError(reply, ApiErrors.CONFLICT(result.error));
        return { service: req.params.name, activeTier: result.activeTier };
      },
    );
  }

  app.get(
    '/v1/snapshots/full',
    { schema: { tags: ['snapshots'], summary: 'A full backup: every configuration key, versioned and checksummed' } },
    async () => deps.snapshot(undefined),
  );

  app.get<{ Querystring: { since: string } }>(
    '/v1/snapshots/incremental',
    {
      schema: {
        tags: ['snapshots'],
        summary: 'An incremental backup: the keys changed or deleted since a revision',
        querystring: IncrementalQuery,
      },
    },
    async (req, reply) => {
      try {
        return deps.snapshot(Number(req.query.since));
      } catch (e) {
        return sendError(reply, ApiErrors.API_INVALID((e as Error).message, { cause: e }), { field: 'since' });
      }
    },
  );

  app.post<{ Body: { snapshots: unknown[] } }>(
    '/v1/snapshots/restore',
    {
      bodyLimit: RESTORE_BODY_LIMIT,
      schema: {
        tags: ['snapshots'],
        summary: 'Restore a full snapshot and its incrementals, in order',
        description: 'Every file is verified first (format, checksum, order, cluster); on any error nothing changes.',
        body: RestoreBody,
      },
    },
    async (req, reply) => {
      const result = await deps.restore(req.body.snapshots);
      if (!result.ok)
        return sendError(reply, ApiErrors.API_INVALID(result.message), result.field ? { field: result.field } : {});
      return { restored: { keys: result.keys, revision: result.revision } };
    },
  );

  // Streams are hijacked from fastify: close them on shutdown, or closing the server would wait for them.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });
  app.get(
    '/v1/events/stream',
    {
      exposeHeadRoute: false,
      schema: {
        tags: ['events'],
        summary:
          'Health and failover decisions as server-sent events (same filters as /v1/events; resumes after Last-Event-ID)',
      },
    },
    (req, reply) => {
      const query = req.query as Record<string, string | undefined>;
      const lastId = req.headers['last-event-id'];
      const filter = eventFilter({
        ...query,
        ...(typeof lastId === 'string' && /^\d+$/.test(lastId) ? { after: lastId } : {}),
      });
      if (typeof filter === 'string') {
        void sendError(reply, ApiErrors.API_INVALID(filter));
        return;
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const matches = (e: MeshEvent) =>
        (filter.service === undefined || e.service === filter.service) &&
        (filter.kind === undefined || e.kind === filter.kind) &&
        (filter.instance === undefined || e.instance === filter.instance);
      let ended = false;
      const write = (e: MeshEvent) => {
        res.write(
          `id: ${e.seq}\nevent: mesh-event\ndata: ${JSON.stringify({ ...e, time: new Date(e.time).toISOString() })}\n\n`,
        );
        if (res.writableLength > MAX_STREAM_BUFFER_BYTES) end();
      };
      const stop = events.subscribe((e) => {
        if (matches(e)) write(e);
      });
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
      const end = (): void => {
        if (ended) return;
        ended = true;
        stop();
        clearInterval(keepAlive);
        streams.delete(end);
        res.end();
      };
      streams.add(end);
      req.raw.on('close', end);
      const { limit: _limit, ...backlog } = filter;
      if (filter.afterSeq !== undefined) for (const e of events.list(backlog)) if (!ended) write(e);
      if (!ended) res.write(': connected\n\n');
    },
  );
}

/**
 * A policy write that changes a range map is an event of the leader's log (a
 * follower's own event would raise its sequence past the leader's and drop
 * the leader's next ones), so a follower refuses it, naming the leader, as
 * the range edits do; `undefined` on the leader or a single control plane.
 */
function mapWriteOnFollower(
  following: { leader: { replicaId: string; url: string } | undefined } | undefined,
): { message: string; extra: Record<string, string> } | undefined {
  if (!following) return undefined;
  const leader = following.leader;
  return {
    message: leader
      ? `this control-plane replica follows; a policy write that changes a range map is recorded by the leader, replica ${leader.replicaId}: send it to ${leader.url || 'the leader'} (see GET /v1/cluster)`
      : 'this control-plane replica follows and no replica leads right now (is the etcd quorum lost?); a policy write that changes a range map is recorded by the leader: try again shortly (see GET /v1/cluster)',
    extra: leader?.url ? { leader: leader.url } : {},
  };
}
