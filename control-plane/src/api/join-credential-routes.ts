import { AUTHZ_UNAUTHENTICATED, type Logger, parseDuration, ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiErrors } from '../errors.js';
import type { JoinCredentialStore } from '../join/join-credential-store.js';
import { sendError } from './api-errors.js';

/** What the join-credential routes need. */
export interface JoinCredentialDeps {
  credentials: JoinCredentialStore;
  /** Called after a revoke: sends away the agents that joined with it. */
  revoked: () => void;
  log: Logger;
}

/** A credential's life when the request gives none: 30 days. */
export const DEFAULT_JOIN_CREDENTIAL_TTL = '720h';
/** The longest life a credential may have: a year. */
const MAX_TTL_MS = 366 * 24 * 3_600_000;

const CreateBody = Type.Object(
  {
    service: ServiceName,
    ttl: Type.Optional(
      Type.String({
        pattern: '^([0-9]{1,9}(ms|s|m|h|d))+$',
        fix: 'give a duration such as "720h", "30m" or "1h30m"',
      }),
    ),
  },
  { additionalProperties: false },
);
const IdParams = Type.Object(
  { id: Type.String({ pattern: '^[0-9a-f]{16}$', fix: 'give the ID that "meshctl token list" shows' }) },
  { additionalProperties: false },
);

/**
 * `/v1/join-credentials`: operators mint, list and revoke per-service join
 * credentials. POST and DELETE need an admin token (the auth hook refuses
 * a read-only one); GET lists them without their secrets, which the control
 * plane does not have: the secret is in the POST's answer only.
 */
export function registerJoinCredentialRoutes(app: FastifyInstance, deps: JoinCredentialDeps): void {
  const { credentials, log } = deps;

  app.post<{ Body: { service: string; ttl?: string } }>(
    '/v1/join-credentials',
    {
      schema: {
        tags: ['join-credentials'],
        summary: 'Mint a join credential bound to one service; the secret is in this answer only',
        description: `ttl defaults to ${DEFAULT_JOIN_CREDENTIAL_TTL}. Put the credential in the agent config as controlPlane.joinToken.`,
        body: CreateBody,
      },
    },
    async (req, reply) => {
      // Reserved: authorization policies name plaintext callers with it, so no workload may carry it as its identity.
      if (req.body.service === AUTHZ_UNAUTHENTICATED)
        return sendError(
          reply,
          ApiErrors.API_INVALID(
            `service "${AUTHZ_UNAUTHENTICATED}" is reserved (authorization policies name plaintext callers with it); pick another service name`,
          ),
          { field: 'service' },
        );
      const ttl = req.body.ttl ?? DEFAULT_JOIN_CREDENTIAL_TTL;
      const ttlMs = parseDuration(ttl);
      if (ttlMs === undefined || ttlMs > MAX_TTL_MS)
        return sendError(
          reply,
          ApiErrors.API_INVALID(`ttl "${ttl}" must be a duration above 0 and at most 8784h (a year), such as "720h"`),
          { field: 'ttl' },
        );
      const { record, credential } = await credentials.create(req.body.service, ttlMs);
      log.info({ credentialId: record.id, service: record.service }, 'join credential minted');
      const { state: _state, ...view } = credentials.view(record);
      return reply.code(201).send({ ...view, credential });
    },
  );

  app.get(
    '/v1/join-credentials',
    {
      schema: {
        tags: ['join-credentials'],
        summary: 'Every join credential with its service, dates and state (active, expired, revoked); never a secret',
      },
    },
    async () => ({ items: credentials.list().map((r) => credentials.view(r)) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/join-credentials/:id',
    {
      schema: {
        tags: ['join-credentials'],
        summary: 'Revoke a join credential: it admits no agent any more, and agents that joined with it are sent away',
        params: IdParams,
      },
    },
    async (req, reply) => {
      const record = await credentials.revoke(req.params.id);
      if (!record)
        return sendError(
          reply,
          ApiErrors.NOT_FOUND(`no join credential "${req.params.id}"; see GET /v1/join-credentials`),
          { field: 'id' },
        );
      log.info({ credentialId: record.id, service: record.service }, 'join credential revoked');
      deps.revoked();
      return credentials.view(record);
    },
  );
}
