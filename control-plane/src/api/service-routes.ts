import { ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';

/** What `DELETE /v1/services/NAME` needs. */
export interface ServiceRouteDeps {
  /** Whether the control plane knows the service (remembered, registered or configured). */
  known: (service: string) => boolean;
  /** What keeps the service (with the fix), or `undefined` when nothing does. */
  heldBy: (service: string) => string | undefined;
  /** Forgets the service and sends a table without it. */
  forget: (service: string) => void;
}

const ServiceParams = Type.Object({ name: ServiceName }, { additionalProperties: false });

/**
 * `DELETE /v1/services/NAME`: forgets a service name nothing uses (typos,
 * decommissioned services, fake registrations) at once, instead of waiting
 * for `registry.serviceExpiryMs`. Refused with 409, naming what holds it,
 * while it has an instance listed or a policy.
 */
export function registerServiceRoutes(app: FastifyInstance, deps: ServiceRouteDeps): void {
  app.delete<{ Params: { name: string } }>(
    '/v1/services/:name',
    {
      schema: {
        tags: ['services'],
        summary: 'Forget a service name that has no instance and no policy',
        description: 'Refused (409) while an instance is listed or a policy names it; the message says which.',
        params: ServiceParams,
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      if (!deps.known(name)) return sendError(reply, ApiErrors.NOT_FOUND(`no service "${name}"; see GET /v1/services`));
      const held = deps.heldBy(name);
      if (held !== undefined)
        return sendError(reply, ApiErrors.CONFLICT(`service "${name}" cannot be deleted while it has ${held}`));
      deps.forget(name);
      return { service: name, deleted: true };
    },
  );
}
