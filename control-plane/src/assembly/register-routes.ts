import type { TLSSocket } from 'node:tls';
import { createAgentMessageDecoder, resolvePolicy, tableBudgetProblem } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { registerAdminRoutes } from '../api/admin-routes.js';
import { registerAuthzRoutes } from '../api/authz-routes.js';
import { registerJoinCredentialRoutes } from '../api/join-credential-routes.js';
import { registerLogLevelRoutes } from '../api/log-level-routes.js';
import { registerReadRoutes } from '../api/read-routes.js';
import { registerServiceRoutes } from '../api/service-routes.js';
import { serviceHeldBy } from '../registry/service-holds.js';
import { withPolicies } from './build-routes.js';
import { takeSnapshot } from '../backup/snapshot.js';
import { registerDashboard } from '../dashboard/dashboard.js';
import { checkJoin } from '../join/check-join.js';
import { sendAwayRevoked } from '../join/send-away-revoked.js';
import { AdvertisedAddressCheck, isLoopback, normalizeAddress } from '../registry/advertised-address-check.js';
import { AgentSession, type SessionContext } from '../stream/agent-session.js';
import { checkRegistration } from '../stream/check-registration.js';
import { ReportGuard } from '../stream/report-guard.js';
import type { CertificateIssuer } from '../stream/certificate-requests.js';
import type { CaRotation } from '../identity/ca-rotation.js';
import { registerCaRoutes } from '../api/ca-routes.js';
import { type CertifiedAgent, StreamCertificateAuth, type StreamTrust } from '../stream/stream-certificate-auth.js';
import type { AssemblyContext } from './assembly-context.js';
import type { ControlPlaneParts } from './create-parts.js';
import { followStore } from './follow-store.js';
import { restoreBackup } from './restore-backup.js';

/** What the routes are served from. */
export interface RouteContext extends AssemblyContext {
  parts: ControlPlaneParts;
  /** Signs the agents' workload certificates. */
  issuer?: CertificateIssuer;
  /** The CA's root rotation (`/v1/ca`). */
  rotation?: CaRotation;
  /** The CA's roots and issuers now, which an agent's client certificate on a wss stream is checked against. */
  streamTrust?: () => StreamTrust;
}

/** The agents' stream (`/v1/stream`), the dashboard, and the admin API's read, log-level and write routes. */
export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { config, log, clock, store, metrics, replication, sessions, parts } = ctx;
  const { registry, pusher, health, failover, events, policies, drains, rings, stats, joinCredentials } = parts;
  const policyOf = (service: string) => policies.policyOf(service).balancer;
  const addressCheck = new AdvertisedAddressCheck({
    allowedRanges: config.registry.allowedAddressRanges,
    allowHostNames: config.registry.allowHostNames,
    listensOnLoopback: isLoopback(normalizeAddress(config.listen.host)),
  });
  const session: SessionContext = {
    registry,
    pusher,
    health,
    stats,
    ringAgrees: (service, reported) => rings.agrees(service, policyOf(service), reported),
    metrics,
    log,
    clock,
    decode: createAgentMessageDecoder(config.stream.maxMessageBytes),
    helloTimeoutMs: config.stream.helloTimeoutMs,
    credentialActive: (id) => {
      const record = joinCredentials.get(id);
      return record !== undefined && record.revokedAt === undefined;
    },
    checkJoin: (hello) =>
      checkJoin(hello, {
        sharedToken: config.auth.allowSharedJoinToken ? config.auth.joinToken : undefined,
        credentials: joinCredentials,
      }),
    sessions,
    relay: (agentId, report, identity) => replication.observed(agentId, report, identity),
    checkRegistration: (hello, remoteAddress) =>
      checkRegistration(hello, remoteAddress, { addressCheck, metrics, log }),
    reports: new ReportGuard({
      rate: { perSecond: config.stream.reportsPerSecond, burst: config.stream.reportBurst },
      wasSent: (sink, service, id) => pusher.wasSent(sink, service, id),
      tableSent: (sink) => pusher.tableSent(sink),
      metrics,
      log,
      clock,
    }),
    refusal: () => replication.refusal(),
    ...(ctx.issuer ? { issuer: ctx.issuer } : {}),
    // The caller is who its credential says it is (its instance's service without one): what the policy will match.
    observed: (record, report) =>
      parts.callers.record(record.admittedFor ?? record.instance?.service, report, (s, id) => health.knows(s, id)),
    identityChanged: (record) => replication.changed(record),
  };
  // Over TLS the server asks every client for a certificate (see httpsOptions); an agent's workload
  // certificate authenticates its stream, checked before the upgrade, so the session starts knowing it.
  const streamAuth =
    ctx.streamTrust && ctx.issuer
      ? new StreamCertificateAuth({ trust: ctx.streamTrust, trustDomain: ctx.issuer.trustDomain, clock, metrics, log })
      : undefined;
  const certified = new WeakMap<object, CertifiedAgent>();
  app.get(
    '/v1/stream',
    {
      websocket: true,
      preValidation: async (req) => {
        const tls = req.raw.socket as Partial<TLSSocket>;
        if (streamAuth === undefined || typeof tls.getPeerCertificate !== 'function') return;
        const who = await streamAuth.authenticate(tls.getPeerCertificate(true), req.socket.remoteAddress ?? 'unknown');
        if (who !== undefined) certified.set(req.raw, who);
      },
    },
    (socket, req) => {
      // No address (a socket already closed): 'unknown' is no IP, so the address check refuses any registration.
      new AgentSession(socket, req.socket.remoteAddress ?? 'unknown', session, certified.get(req.raw));
    },
  );
  // The page holds no data: it asks for a token and calls the API with it.
  registerDashboard(app);
  registerReadRoutes(app, {
    registry,
    pusher,
    metrics,
    health,
    failover,
    events,
    rings: () => rings.list(policyOf),
    convergences: () => ctx.convergences.list(),
    policyOf: (s) => policies.policyOf(s),
    statsOf: (s) => stats.view(s),
    cluster: () => replication.view(),
  });
  registerLogLevelRoutes(app, log);
  if (ctx.rotation) registerCaRoutes(app, { rotation: ctx.rotation, agents: () => registry.agents(), log });
  registerJoinCredentialRoutes(app, {
    credentials: joinCredentials,
    revoked: () => sendAwayRevoked(sessions, joinCredentials),
    log,
  });
  registerAuthzRoutes(app, {
    authz: parts.authz,
    callersOf: (s) => parts.callers.callersOf(s),
    replicated: () => replication.view().role !== 'standalone',
    changed: () => pusher.schedule(),
  });
  registerAdminRoutes(app, {
    policies,
    failover,
    events,
    following: () => replication.following(),
    drain: (id, reason) => drains.drain(id, reason),
    undrain: (id) => drains.undrain(id),
    instanceState: (id) => {
      const v = health.list().find((x) => x.id === id);
      return v ? { service: v.service, state: v.state } : undefined;
    },
    // Checked over the services as they are now (their endpoints, every other policy) with this one in force.
    policyBudget: (service, policy) => {
      const services = withPolicies(registry.routingServices(), policies);
      services[service] = { endpoints: services[service]?.endpoints ?? [], policy: resolvePolicy(policy) };
      return tableBudgetProblem(services, config.tableBudget);
    },
    policiesChanged: () => pusher.schedule(),
    snapshot: (since) => takeSnapshot(store, since === undefined ? { now: clock } : { since, now: clock }),
    restore: (input) =>
      restoreBackup(store, input, log, () => {
        followStore(store, parts);
        // A restore can revoke credentials (see restoreSnapshots): their agents go, as after a revoke.
        sendAwayRevoked(sessions, joinCredentials);
      }),
  });
  registerServiceRoutes(app, {
    known: (s) =>
      registry.serviceNames().includes(s) || policies.configured().includes(s) || parts.authz.configured().includes(s),
    heldBy: (s) => serviceHeldBy(s, { registry, policies, authz: parts.authz }),
    forget: (s) => {
      registry.forgetServices([s]);
      log.info({ service: s }, 'service deleted through the admin API');
      pusher.schedule();
    },
  });
}
