import { AuthzPolicy, authzPolicyIssues, ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuthzStore, AuthzWrite } from '../authz/authz-store.js';
import type { CallersView } from '../authz/caller-log.js';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';

/** What the authorization routes need. */
export interface AuthzDeps {
  authz: AuthzStore;
  /** The callers of a service seen so far (for `meshctl authz suggest`). */
  callersOf: (service: string) => CallersView;
  /** Whether the control plane runs replicas: then the callers are only those reported to this replica. */
  replicated: () => boolean;
  /** Called after a policy changed: a new table follows. */
  changed: () => void;
}

const ServiceParams = Type.Object({ name: ServiceName }, { additionalProperties: false });
const ResourceVersion = Type.String({
  pattern: '^[0-9]{1,16}$',
  fix: 'send the resourceVersion from the last GET, such as "12"',
});
const PutBody = Type.Object(
  { policy: AuthzPolicy, resourceVersion: Type.Optional(ResourceVersion) },
  { additionalProperties: false },
);
const DeleteQuery = Type.Object({ resourceVersion: Type.Optional(ResourceVersion) }, { additionalProperties: false });

const refused = (result: Extract<AuthzWrite, { ok: false }>) =>
  (result.status === 404 ? ApiErrors.NOT_FOUND : ApiErrors.CONFLICT)(result.message);

/**
 * `/v1/authz`: per-service authorization policies (who may call a service,
 * by identity, method and path), as `/v1/policies` does for traffic
 * policies, with the same `resourceVersion` concurrency; and
 * `/v1/authz/NAME/callers`, the callers the control plane has seen, from
 * which `meshctl authz suggest` writes a least-privilege policy. Writes
 * need an admin token (the auth hook refuses a read-only one).
 */
export function registerAuthzRoutes(app: FastifyInstance, deps: AuthzDeps): void {
  const { authz } = deps;

  app.get(
    '/v1/authz',
    {
      schema: {
        tags: ['authz'],
        summary: 'Every configured authorization policy, with its source and resourceVersion',
      },
    },
    async () => ({ items: authz.configured().map((s) => authz.item(s)) }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/authz/:name',
    {
      schema: {
        tags: ['authz'],
        summary: "A service's authorization policy in force (API or config file); policy null: none",
        params: ServiceParams,
      },
    },
    async (req) => authz.item(req.params.name),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/authz/:name/callers',
    {
      schema: {
        tags: ['authz'],
        summary:
          "The callers of a service this replica has seen since it started, as the callers' own agents reported them (self-reported); replicated: true when other replicas may have seen others",
        params: ServiceParams,
      },
    },
    async (req) => {
      const view = deps.callersOf(req.params.name);
      const iso = (ms: number) => new Date(ms).toISOString();
      return {
        ...view,
        replicated: deps.replicated(),
        since: iso(view.since),
        callers: view.callers.map((c) => ({ ...c, firstSeenAt: iso(c.firstSeenAt), lastSeenAt: iso(c.lastSeenAt) })),
      };
    },
  );

  app.put<{ Params: { name: string }; Body: { policy: unknown; resourceVersion?: string } }>(
    '/v1/authz/:name',
    {
      schema: {
        tags: ['authz'],
        summary: 'Create or replace the authorization policy of a service',
        description:
          'With resourceVersion ("0" to create), the write happens only if it is still current; otherwise 409. The new policy reaches the service\'s agents in the next routing table.',
        params: ServiceParams,
        body: PutBody,
      },
    },
    async (req, reply) => {
      // The schema passed; what it cannot check (SPIFFE ids, normalized paths) is refused the same way.
      const issues = authzPolicyIssues(req.body.policy as AuthzPolicy, 'policy.');
      const first = issues[0];
      if (first !== undefined)
        return sendError(
          reply,
          ApiErrors.API_INVALID(`invalid body: ${issues.map((i) => `${i.path} ${i.problem}`).join('; ')}`),
          { field: first.path, issues },
        );
      const result = await authz.put(req.params.name, req.body.policy, req.body.resourceVersion);
      if (!result.ok) return sendError(reply, refused(result), { field: 'resourceVersion' });
      deps.changed();
      return result.item;
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { resourceVersion?: string } }>(
    '/v1/authz/:name',
    {
      schema: {
        tags: ['authz'],
        summary: "Delete the API authorization policy of a service (the config file's, or none, applies again)",
        params: ServiceParams,
        querystring: DeleteQuery,
      },
    },
    async (req, reply) => {
      const result = await authz.delete(req.params.name, req.query.resourceVersion);
      if (!result.ok) return sendError(reply, refused(result));
      deps.changed();
      return { service: req.params.name, deleted: true };
    },
  );
}
