import type { TLSSocket } from 'node:tls';
import { createAgentMessageDecoder, resolvePolicy, tableBudgetProblem } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { registerAdminRoutes } from '../api/admin-routes.js';
import { registerAuthzRoutes } from '../api/authz-routes.js';
import { registerJoinCredentialRoutes } from '../api/join-credential-routes.js';
import { registerLogLevelRoutes } from '../api/log-level-routes.js';
import { registerReadRoutes } from '../api/read-routes.js';
import { registerServiceRoutes } from '../api/service-routes.js';
import { registerShardRoutes } from '../sharding/shard-routes.js';
import { serviceHeldBy } from '../registry/service-holds.js';
import { withPolicies } from './build-routes.js';
import { takeSnapshot } from '../backup/snapshot.js';
import { registerDashboard } from '../dashboard/dashboard.js';
import { checkCredential, checkJoin, type JoinPolicy } from '../join/check-join.js';
import { sendError } from '../api/api-errors.js';
import { sendAwayRevoked } from '../join/send-away-revoked.js';
import { AdvertisedAddressCheck, isLoopback, normalizeAddress } from '../registry/advertised-address-check.js';
import { AgentSession, type SessionContext } from '../stream/agent-session.js';
import { checkRegistration } from '../stream/check-registration.js';
import { ReportGuard } from '../stream/report-guard.js';
import { StreamUpgrade, type UpgradeDecision } from '../stream/stream-upgrade.js';
import { UnauthenticatedStreams } from '../stream/unauthenticated-streams.js';
import type { CertificateIssuer } from '../stream/certificate-requests.js';
import type { CaRotation } from '../identity/ca-rotation.js';
import { registerCaRoutes } from '../api/ca-routes.js';
import { type CertifiedAgent, StreamCertificateAuth, type StreamTrust } from '../stream/stream-certificate-auth.js';
import type { Coordinator } from '../coordination/coordinator.js';
import { registerCoordinationRoutes } from '../api/coordination-routes.js';
import { registerFailoverRoutes } from '../api/failover-routes.js';
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
  /** Application locks and elections (the agents' `coord` requests, `/v1/locks`, `/v1/elections`). */
  coordinator?: Coordinator;
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
  const joinPolicy = (): JoinPolicy => ({
    sharedToken: config.auth.allowSharedJoinToken ? config.auth.joinToken : undefined,
    credentials: joinCredentials,
  });
  const upgrades = new StreamUpgrade({
    verify: (token) => checkCredential(token, joinPolicy()),
    unauthenticated: new UnauthenticatedStreams(
      {
        perAddress: config.stream.maxUnauthenticatedPerAddress,
        total: config.stream.maxUnauthenticated,
        ipv6PrefixLength: config.listen.limits.ipv6PrefixLength,
      },
      (n) => metrics.unauthenticatedStreams.set(n),
    ),
    metrics,
    log,
    clock,
    limits: { ipv6PrefixLength: config.listen.limits.ipv6PrefixLength },
  });
  // A large ring's expected checksum is computed in slices: ACKs that came before it learn whether they agree now.
  rings.onChecksum((service, version, checksum) => {
    for (const r of registry.agents()) {
      const x = r.rings[service];
      if (x !== undefined && x.version === version && x.agrees === undefined) x.agrees = x.checksum === checksum;
    }
  });
  const session: SessionContext = {
    registry,
    pusher,
    health,
    roles: { roles: parts.roles, replicate: (record) => replication.changed(record) },
    stats,
    ringAgrees: (service, reported) => rings.agrees(service, policyOf(service), reported),
    metrics,
    log,
    clock,
    decode: createAgentMessageDecoder(config.stream.maxMessageBytes),
    helloTimeoutMs: config.stream.helloTimeoutMs,
    helloMaxBytes: config.stream.helloMaxBytes,
    throttle: upgrades,
    credentialActive: (id) => {
      if (id === undefined) return config.auth.allowSharedJoinToken;
      const record = joinCredentials.get(id);
      return record !== undefined && record.revokedAt === undefined;
    },
    checkJoin: (hello) => checkJoin(hello, joinPolicy()),
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
    ...(ctx.coordinator ? { coordination: ctx.coordinator } : {}),
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
  const admitted = new WeakMap<object, Extract<UpgradeDecision, { ok: true }>>();
  app.get(
    '/v1/stream',
    {
      websocket: true,
      // Before any WebSocket message: the client certificate, then the credential of the upgrade or a place among the
      // unauthenticated streams (see security.md, "Before the hello"). A refusal is an HTTP answer, and the socket ends.
      preValidation: async (req, reply) => {
        if (!req.ws) return;
        const address = req.socket.remoteAddress ?? 'unknown';
        const tls = req.raw.socket as Partial<TLSSocket>;
        if (streamAuth !== undefined && typeof tls.getPeerCertificate === 'function') {
          const who = await streamAuth.authenticate(tls.getPeerCertificate(true), address);
          if (who !== undefined) certified.set(req.raw, who);
        }
        const who = certified.get(req.raw);
        const standing = who?.credentialId === undefined || session.credentialActive?.(who.credentialId) !== false;
        const decision = upgrades.check({
          address,
          authorization: req.headers.authorization,
          certified: who !== undefined && standing,
        });
        if (!decision.ok) {
          if (decision.retryAfterSeconds !== undefined) reply.header('retry-after', String(decision.retryAfterSeconds));
          return sendError(reply, decision.error);
        }
        if (decision.release) req.raw.socket.once('close', decision.release);
        admitted.set(req.raw, decision);
        return undefined;
      },
    },
    (socket, req) => {
      // No address (a socket already closed): 'unknown' is no IP, so the address check refuses any registration.
      const address = req.socket.remoteAddress ?? 'unknown';
      new AgentSession(socket, address, session, certified.get(req.raw), { ...admitted.get(req.raw), raw: req.socket });
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
    roles: parts.roles,
  });
  registerLogLevelRoutes(app, log);
  if (ctx.coordinator)
    registerCoordinationRoutes(app, { coordinator: ctx.coordinator, following: () => replication.following() });
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
  const knownService = (s: string) =>
    registry.serviceNames().includes(s) || policies.configured().includes(s) || parts.authz.configured().includes(s);
  registerAdminRoutes(app, {
    knownService,
    serviceNames: () => registry.serviceNames(),
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
  registerFailoverRoutes(app, {
    managed: parts.managedFailover,
    events,
    knownService,
    following: () => replication.following(),
  });
  registerShardRoutes(app, {
    policies,
    // A map change is rare and waited on (its table's ACK): the table is built at once rather than after the debounce.
    changed: () => pusher.flush(),
    inTable: (s) => {
      const table = pusher.current;
      return table && { sharding: table.services[s]?.policy?.sharding, version: pusher.serviceVersion(s) };
    },
    endpoints: (s) => registry.routingServices()[s]?.endpoints ?? [],
    following: () => replication.following(),
  });
  registerServiceRoutes(app, {
    known: knownService,
    heldBy: (s) => serviceHeldBy(s, { registry, policies, authz: parts.authz }),
    forget: (s) => {
      registry.forgetServices([s]);
      log.info({ service: s }, 'service deleted through the admin API');
      pusher.schedule();
    },
  });
}
