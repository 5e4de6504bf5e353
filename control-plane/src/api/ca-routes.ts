import { type Logger, MeshletError } from '@meshlet/shared';
import { certificateFingerprint, x509 } from '@meshlet/shared/identity';
import type { FastifyInstance } from 'fastify';
import { ApiErrors, ControlPlaneErrorCodes } from '../errors.js';
import { type CaRotation, describeStep } from '../identity/ca-rotation.js';
import { type AgentProgress, behindOf } from '../identity/rotation-progress.js';
import { sendError } from './api-errors.js';

/** What the CA routes need. */
export interface CaRouteDeps {
  rotation: CaRotation;
  /** Every agent this replica knows (its own and, on etcd, the other replicas'). */
  agents: () => readonly AgentProgress[];
  log: Logger;
}

/** A CA certificate as `/v1/ca` shows it. */
function certificateView(pem: string): { subject: string; fingerprint: string; notBefore: string; notAfter: string } {
  const cert = new x509.X509Certificate(pem);
  return {
    subject: cert.subject,
    fingerprint: certificateFingerprint(pem),
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
  };
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The CA's state and the rotation's progress, as `GET /v1/ca` answers and `meshctl ca status` shows. */
export function caStatus(rotation: CaRotation, agents: readonly AgentProgress[]): Record<string, unknown> {
  const state = rotation.state;
  const trust = rotation.trust();
  const split = (pem: string): string[] =>
    pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const behind = state === undefined ? [] : behindOf(state, trust.activeIssuer, agents);
  const connected = agents.filter((a) => a.connected);
  return {
    step: state?.step ?? 'none',
    description:
      state === undefined ? 'no root rotation yet: the CA is as its source made it' : describeStep(state.step),
    generation: trust.generation,
    startedAt: iso(state?.startedAt),
    stepStartedAt: iso(state?.stepAt),
    completedAt: iso(state?.completedAt),
    startedBy: state?.startedBy,
    activeIssuer: trust.activeIssuer,
    roots: split(trust.rootsPem).map(certificateView),
    issuers: split(trust.issuersPem).map(certificateView),
    agents: { connected: connected.length, behind },
    certificates: connected.map((a) => ({
      agentId: a.agentId,
      service: a.instance?.service ?? a.admittedFor,
      trustGeneration: a.trustGeneration,
      issuer: a.certificateIssuer,
      fromActiveIssuer: a.certificateIssuer === undefined ? undefined : a.certificateIssuer === trust.activeIssuer,
      ...(a.certificate === undefined
        ? {}
        : { spiffeId: a.certificate.spiffeId, notAfter: new Date(a.certificate.notAfter).toISOString() }),
    })),
  };
}

/**
 * `/v1/ca`: the trust bundle, the issuer, every agent's certificate and, in
 * a root rotation, its step and the agents it waits for. `POST
 * /v1/ca/rotate` (admin token) starts a rotation; it goes on by itself, one
 * proven step after another, and `GET /v1/ca` follows it.
 */
export function registerCaRoutes(app: FastifyInstance, deps: CaRouteDeps): void {
  app.get(
    '/v1/ca',
    { schema: { tags: ['ca'], summary: 'The trust bundle, the issuer, agents’ certificates and any root rotation' } },
    async () => caStatus(deps.rotation, deps.agents()),
  );
  app.post(
    '/v1/ca/rotate',
    {
      schema: {
        tags: ['ca'],
        summary: 'Start a root rotation: new root, then new issuer, then the old root removed, each step proven',
      },
    },
    async (req, reply) => {
      // Who asked, as far as the control plane knows (tokens are never named in logs or the store).
      const by = `${req.ip}`;
      try {
        await deps.rotation.start(by);
      } catch (e) {
        if (e instanceof MeshletError && e.code === ControlPlaneErrorCodes.CONFLICT)
          return sendError(reply, ApiErrors.CONFLICT(e.message));
        deps.log.error({ err: (e as Error).message }, 'could not start a root rotation');
        return sendError(reply, ApiErrors.INTERNAL(`could not start a root rotation: ${(e as Error).message}`));
      }
      return reply.code(202).send(caStatus(deps.rotation, deps.agents()));
    },
  );
}
