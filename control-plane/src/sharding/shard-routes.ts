import { ServiceName, RangeBound, type ShardingPolicy, type RangeOwner } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from '../api/api-errors.js';
import { tokenNameOf } from '../api/auth.js';
import { ApiErrors } from '../errors.js';
import { canonicalJson } from '../backup/canonical-json.js';
import type { PolicyItem, PolicyStore } from '../policies/policy-store.js';
import { type OwnerCandidate, ownerWarnings } from './owner-warnings.js';
import { mergeRanges, moveRange, type ShardEdit, splitRange } from './shard-edits.js';

/** What the shard routes need from the control plane. */
export interface ShardRouteDeps {
  /** Where maps are read and written; it gives each change its generation and records its `sharding` event. */
  policies: Pick<PolicyStore, 'item' | 'put'>;
  /** Called after a map changed: a new table follows at once (the answer names its version when this replica builds it). */
  changed: () => void;
  /** The service's sharding in the newest routing table, and the version the service last changed at; undefined before any table. */
  inTable: (service: string) => { sharding: unknown; version: number | undefined } | undefined;
  /** `undefined` while this replica decides; else the leader, if one is known: edits are the leader's (its event log, its table). */
  following?: () => { leader: { replicaId: string; url: string } | undefined } | undefined;
  /** The service's registered instances now, to warn about ranges whose owner matches none. */
  endpoints?: (service: string) => readonly OwnerCandidate[];
}

const Params = Type.Object({ name: ServiceName }, { additionalProperties: false });
const ResourceVersion = Type.String({
  pattern: '^[0-9]{1,16}$',
  fix: 'send the resourceVersion from GET /v1/services/NAME/shards, such as "12" ("0" for a map from the config file)',
});
const Instance = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$' });
const Subset = Type.Record(Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }), Type.String({ maxLength: 253 }), {
  additionalProperties: false,
  minProperties: 1,
});
const Owner = Type.Object(
  { instance: Type.Optional(Instance), subset: Type.Optional(Subset) },
  { additionalProperties: false },
);
const SplitBody = Type.Object(
  {
    at: RangeBound,
    resourceVersion: ResourceVersion,
    instance: Type.Optional(Instance),
    subset: Type.Optional(Subset),
  },
  { additionalProperties: false },
);
const MoveBody = Type.Object(
  { from: Type.Union([RangeBound, Type.Null()]), to: Owner, resourceVersion: ResourceVersion },
  { additionalProperties: false },
);
const MergeBody = Type.Object({ at: RangeBound, resourceVersion: ResourceVersion }, { additionalProperties: false });

type Owned = { instance?: string; subset?: Record<string, string> };
/** The one owner `o` names; `undefined` for none, `false` for both. */
const oneOwner = (o: Owned): RangeOwner | undefined | false =>
  o.instance !== undefined && o.subset !== undefined
    ? false
    : o.instance !== undefined
      ? { instance: o.instance }
      : o.subset !== undefined
        ? { subset: o.subset }
        : undefined;

const same = (a: unknown, b: unknown) => a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b);

/**
 * The range map of a service through the admin API:
 * `GET /v1/services/NAME/shards`, and `POST .../shards/split`, `.../move`,
 * `.../merge`. Each edit is a change of the service's policy, made on the
 * policy as the store holds it at the `resourceVersion` it was based on
 * (409 when stale): written through the policy store (a map from the config
 * file becomes an API policy: the config file's with the new map), which
 * gives it the next generation and records its event (kind `sharding`, with
 * who, before and after), and sent in the next routing table, which agents
 * ACK as any.
 */
export function registerShardRoutes(app: FastifyInstance, deps: ShardRouteDeps): void {
  const view = (item: PolicyItem, sharding: ShardingPolicy) => {
    const t = deps.inTable(item.service);
    return {
      service: item.service,
      source: item.source,
      resourceVersion: item.resourceVersion ?? '0',
      generation: sharding.generation ?? 0,
      /** The table version that carries this map, null until a table does (on a follower replica: the leader's). */
      tableVersion: t !== undefined && same(t.sharding, sharding) ? (t.version ?? null) : null,
      key: sharding.key,
      compare: sharding.compare ?? 'string',
      ranges: sharding.ranges,
      ...warningsOf(item.service, sharding),
    };
  };
  const warningsOf = (service: string, sharding: ShardingPolicy) => {
    const warnings = deps.endpoints === undefined ? [] : ownerWarnings(service, sharding, deps.endpoints(service));
    return warnings.length === 0 ? {} : { warnings };
  };
  const mapOf = (service: string, reply: FastifyReply) => {
    const item = deps.policies.item(service);
    const sharding = item.policy.sharding;
    if (sharding === undefined) {
      sendError(
        reply,
        ApiErrors.NOT_FOUND(
          `service "${service}" has no range map: set sharding in its policy (PUT /v1/policies/${service}), see docs/coordination.md`,
        ),
      );
      return undefined;
    }
    return { item, sharding };
  };

  app.get<{ Params: { name: string } }>(
    '/v1/services/:name/shards',
    {
      schema: {
        tags: ['sharding'],
        summary: "A range-sharded service's map: its ranges, owners, generation, resourceVersion and table version",
        params: Params,
      },
    },
    async (req, reply) => {
      const found = mapOf(req.params.name, reply);
      return found === undefined ? reply : view(found.item, found.sharding);
    },
  );

  const edit = async (
    req: FastifyRequest<{ Params: { name: string } }>,
    reply: FastifyReply,
    operation: 'split' | 'move' | 'merge',
    resourceVersion: string,
    apply: (s: ShardingPolicy) => ShardEdit,
  ) => {
    const service = req.params.name;
    // On a follower the edit would land in the store, but its event in no log the others read: the leader takes it.
    const following = deps.following?.();
    if (following) {
      const leader = following.leader;
      const message = leader
        ? `this control-plane replica follows; a range map ${operation} is made by the leader, replica ${leader.replicaId}: send the request to ${leader.url || 'the leader'} (see GET /v1/cluster)`
        : `this control-plane replica follows and no replica leads right now (is the etcd quorum lost?): try the ${operation} again shortly (see GET /v1/cluster)`;
      return sendError(reply, ApiErrors.NOT_LEADER(message), leader?.url ? { leader: leader.url } : {});
    }
    const found = mapOf(service, reply);
    if (found === undefined) return reply;
    const { item, sharding } = found;
    const current = item.resourceVersion ?? '0';
    if (resourceVersion !== current)
      return sendError(
        reply,
        ApiErrors.CONFLICT(
          `resourceVersion ${resourceVersion} is stale: the policy of "${service}" is at ${current}; get the map again (GET /v1/services/${service}/shards) and reapply your change`,
        ),
        { field: 'resourceVersion' },
      );
    const result = apply(sharding);
    if (!result.ok) {
      const error =
        result.status === 404
          ? ApiErrors.NOT_FOUND
          : result.status === 409
            ? ApiErrors.CONFLICT
            : ApiErrors.API_INVALID;
      return sendError(reply, error(result.message), { field: result.field });
    }
    const base = item.source === 'api' ? (item.spec as Record<string, unknown>) : item.policy;
    const by = tokenNameOf(req) ?? 'no token configured';
    // No await between reading the map (mapOf) and this write: it is made on the map at the version it checked.
    const written = await deps.policies.put(service, { ...base, sharding: result.sharding }, resourceVersion, {
      by,
      operation,
      summary: result.summary,
    });
    if (!written.ok)
      return sendError(reply, (written.status === 404 ? ApiErrors.NOT_FOUND : ApiErrors.CONFLICT)(written.message), {
        field: 'resourceVersion',
      });
    deps.changed();
    return { ...view(written.item, written.item.policy.sharding ?? result.sharding), change: result.summary };
  };

  app.post<{ Params: { name: string }; Body: { at: string | number; resourceVersion: string } & Owned }>(
    '/v1/services/:name/shards/split',
    {
      schema: {
        tags: ['sharding'],
        summary:
          'Split the range holding `at` into [from, at) and [at, to); the upper half to instance or subset if given',
        params: Params,
        body: SplitBody,
      },
    },
    async (req, reply) => {
      const owner = oneOwner(req.body);
      if (owner === false)
        return sendError(reply, ApiErrors.API_INVALID('give at most one of instance and subset for the upper half'), {
          field: 'subset',
        });
      return edit(req, reply, 'split', req.body.resourceVersion, (s) => splitRange(s, req.body.at, owner));
    },
  );

  app.post<{ Params: { name: string }; Body: { from: string | number | null; to: Owned; resourceVersion: string } }>(
    '/v1/services/:name/shards/move',
    {
      schema: {
        tags: ['sharding'],
        summary: 'Give the range that starts at `from` (null: at minus infinity) to another instance or subset',
        params: Params,
        body: MoveBody,
      },
    },
    async (req, reply) => {
      const owner = oneOwner(req.body.to);
      if (owner === undefined || owner === false)
        return sendError(
          reply,
          ApiErrors.API_INVALID('to must name exactly one of instance and subset, such as {"instance": "orders-2"}'),
          { field: 'to' },
        );
      return edit(req, reply, 'move', req.body.resourceVersion, (s) => moveRange(s, req.body.from, owner));
    },
  );

  app.post<{ Params: { name: string }; Body: { at: string | number; resourceVersion: string } }>(
    '/v1/services/:name/shards/merge',
    {
      schema: {
        tags: ['sharding'],
        summary: 'Merge the two adjacent ranges that meet at `at` (same owner only)',
        params: Params,
        body: MergeBody,
      },
    },
    async (req, reply) => edit(req, reply, 'merge', req.body.resourceVersion, (s) => mergeRanges(s, req.body.at)),
  );
}
