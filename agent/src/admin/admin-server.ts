import { type Clock, httpErrorBody, type Logger, MeshletHttpError, systemClock } from '@meshlet/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { RingChecksumMap } from '../control/ring-checksums.js';
import { AgentErrors } from '../errors.js';
import type { WorkloadIdentity } from '../identity/workload-identity.js';
import { adminClientErrors, adminFrameworkErrors, adminNotFound } from './admin-errors.js';
import { installAdminGuard } from './admin-guard.js';
import type { Coordination } from '../coordination/coordination.js';
import { registerCoordinationRoutes } from './coordination-routes.js';
import { registerIdentityRoute } from './identity-route.js';
import { registerLogLevelRoutes } from './log-level.js';
import { registerShardRoutes, type ShardRouteDeps } from './shard-routes.js';
import type { RouteTable } from '../route/route-table.js';

/** What the admin endpoints report on. */
export interface AdminState {
  agentId: string;
  table: () => RouteTable | undefined;
  listening: () => boolean;
  /** The stream: whether it is open, the URL in use (or tried next), every configured URL, and how the last one closed. */
  controlPlane: () => {
    connected: boolean;
    url: string;
    urls: readonly string[];
    lastClose: { code: number; reason: string } | undefined;
  };
  appHealth: () => { status: string; detail: string } | undefined;
  /** The services the agent asks the control plane for. */
  subscriptions: () => { declared: string[]; learned: string[] };
  /** Checksums of the hash tables built from the published rings, as last ACKed. */
  ringChecksums: () => RingChecksumMap | undefined;
  /** The agent's Prometheus registry, served at `/metrics`; absent: no `/metrics`. */
  metrics?: Registry | undefined;
  /** The agent's workload identity, served at `/identity`; absent: no `/identity`. */
  identity?: WorkloadIdentity | undefined;
  /** Wall clock, to tell an expired workload certificate (`/ready`); default the system's. */
  clock?: Clock | undefined;
  /** The shard maps of the services in the table, served at `/v1/shards/...`; absent: no shard routes. */
  shards?: Omit<ShardRouteDeps, 'table'> | undefined;
  /** Host names the listener answers to besides IP addresses and `localhost` (`listeners.admin.host` and `.allowedHosts`). */
  allowedHosts?: readonly string[] | undefined;
  /** The app's locks and elections (`/v1/locks`, `/v1/elections`); absent: no coordination routes. */
  coordination?: Coordination | undefined;
}

function describeService(table: RouteTable, name: string): Record<string, unknown> {
  const s = table.service(name);
  if (!s) return {};
  return {
    balancer: s.policy.balancer.kind,
    tierMode: s.policy.tiers.mode,
    activeTier: s.activeTier ?? null,
    tiers: s.lb.describe(),
    ejected: [...s.ejected].sort(),
    inFlight: s.breaker.active,
    pending: s.breaker.pending,
  };
}

/**
 * The agent's admin endpoints, on 127.0.0.1 by default: `/ready` for
 * orchestrators, `/metrics` for Prometheus, `/config` and `/log-level` for
 * operators. `log` is the agent's logger: `/log-level` changes its level.
 */
export function createAdminServer(state: AdminState, log: Logger): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: log.child({ component: 'admin' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    frameworkErrors: adminFrameworkErrors,
    clientErrorHandler: adminClientErrors,
    // Lock and election names run to 128 characters (fastify's default stops path parameters at 100).
    maxParamLength: 256,
  });
  app.setNotFoundHandler(adminNotFound);
  // Fastify's own refusals (a body that is not JSON, an empty one) in the agent's error shape.
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    // An error of the agent's own, thrown rather than sent: its code and status as bound.
    if (err instanceof MeshletHttpError) return reply.code(err.statusCode).send(httpErrorBody(err));
    const status = err.statusCode;
    if (status === undefined || status < 400 || status >= 500) return reply.send(err);
    return reply.code(status).send(httpErrorBody(AgentErrors.BAD_REQUEST(err.message, { statusCode: status })));
  });

  installAdminGuard(app, state.allowedHosts ?? [], log.child({ component: 'admin' }));

  const registry = state.metrics;
  if (registry) {
    app.get('/metrics', async (_req, reply) => {
      const text = await registry.metrics();
      return reply.header('content-type', registry.contentType).send(text);
    });
  }

  registerLogLevelRoutes(app, log);
  if (state.identity) registerIdentityRoute(app, state.identity);
  if (state.coordination) registerCoordinationRoutes(app, state.coordination, log.child({ component: 'coordination' }));
  if (state.shards) registerShardRoutes(app, { ...state.shards, table: state.table });

  // Ready means "can route": listeners up and a table in hand, whether
  // fresh from the control plane or persisted. A control plane that is away
  // does not make the agent unready; that is the point of the persisted table.
  app.get('/ready', async (_req, reply) => {
    const table = state.table();
    const { connected, url, urls } = state.controlPlane();
    const controlPlane = { connected, url, urls };
    if (!state.listening())
      return reply.code(503).send({ ready: false, reason: 'listeners are not bound yet', controlPlane });
    if (!table) {
      return reply.code(503).send({
        ready: false,
        reason: 'no routing table yet: the control plane has not sent one and none is persisted',
        controlPlane,
      });
    }
    // Without a workload certificate the agent can neither call mTLS peers nor be called by them.
    const certificate = state.identity?.current();
    if (state.identity && certificate === undefined) {
      return reply.code(503).send({
        ready: false,
        reason: 'no workload certificate yet: the control plane has not signed one (see /identity and the agent log)',
        controlPlane,
      });
    }
    // An expired one is as good as none: peers refuse it, and the agent no longer offers it.
    if (certificate !== undefined && certificate.notAfterMs <= (state.clock ?? systemClock)()) {
      return reply.code(503).send({
        ready: false,
        reason: `the workload certificate expired at ${new Date(certificate.notAfterMs).toISOString()} and was not renewed (is the control plane reachable? see /identity and the agent log)`,
        controlPlane,
      });
    }
    return { ready: true, tableVersion: table.version, source: table.source, controlPlane };
  });

  app.get('/config', async () => {
    const table = state.table();
    return {
      agentId: state.agentId,
      controlPlane: state.controlPlane(),
      appHealth: state.appHealth() ?? null,
      subscriptions: state.subscriptions(),
      table: table
        ? {
            version: table.version,
            nonce: table.nonce,
            source: table.source,
            receivedAt: new Date(table.receivedAt).toISOString(),
            services: table.routes.services,
          }
        : null,
      // What the data path makes of the table right now: each service's
      // tiers with their load share and panic flag, local ejections and
      // the circuit breaker's counts.
      balancing: table
        ? Object.fromEntries(table.serviceNames().map((name) => [name, describeService(table, name)]))
        : null,
      // Per hash-balanced service with a published ring: the ring version and the checksum this agent reports in its ACK.
      ringChecksums: state.ringChecksums() ?? {},
    };
  });

  return app;
}
