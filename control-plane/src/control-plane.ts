import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import {
  CloseCodes,
  type ControlPlaneConfig,
  createAgentMessageDecoder,
  type Logger,
  type ServiceRoutes,
  type ValidationIssue,
} from '@meshlet/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { registerAdminRoutes } from './api/admin-routes.js';
import { registerDashboard } from './dashboard/dashboard.js';
import { installApiErrors } from './api/api-errors.js';
import { registerReadRoutes } from './api/read-routes.js';
import { checkRestoredState } from './backup/restore-check.js';
import { restoreSnapshots, takeSnapshot, verifySnapshots } from './backup/snapshot.js';
import { createAuth } from './api/auth.js';
import { checkAuth, tokensFromConfig } from './api/auth-tokens.js';
import { checkTls, httpsOptions } from './api/tls.js';
import { type DecisionSink, EventLog } from './events/event-log.js';
import { FailoverEngine, type TierCount } from './failover/failover-engine.js';
import { HealthEngine } from './health/health-engine.js';
import { createMetrics } from './metrics.js';
import { PolicyStore } from './policies/policy-store.js';
import { ServiceStats } from './stats/service-stats.js';
import { WebhookSender } from './webhooks/webhook-sender.js';
import { registerLogLevelRoutes } from './api/log-level-routes.js';
import { type Convergence, Pusher } from './push/pusher.js';
import { RingPublisher } from './rings/ring-publisher.js';
import { Registry } from './registry/registry.js';
import { type ClusterView, Replication } from './ha/replication.js';
import { createStore } from './store/create-store.js';
import { EtcdStore } from './store/etcd-store.js';
import type { Store } from './store/store.js';
import { AgentSession, type SessionContext } from './stream/agent-session.js';

const SERVICES_KEY = 'services';
const DRAINS_PREFIX = 'drains/';
const CLUSTER_KEY = 'cluster';
/** Admin API bodies larger than this are refused with 413 (a restore has its own, larger limit). */
const BODY_LIMIT = 1024 * 1024;

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Checks what a schema cannot: a control plane reachable from other hosts
 * must authenticate agents and operators.
 */
export function checkSecurity(config: ControlPlaneConfig): ValidationIssue[] {
  const remote = isLoopback(config.listen.host) || config.auth.allowInsecureRemote ? undefined : config.listen.host;
  return [...checkAuth(config.auth, remote), ...checkTls(config.tls)];
}

/**
 * Attaches each service's policy in force (API, config file or defaults) to
 * its routes, and adds configured services that no instance has registered yet.
 */
export function withPolicies(services: Record<string, ServiceRoutes>, policies: Pick<PolicyStore, 'configured' | 'policyOf'>): Record<string, ServiceRoutes> {
  for (const name of policies.configured()) services[name] ??= { endpoints: [] };
  for (const [name, routes] of Object.entries(services)) routes.policy = policies.policyOf(name);
  return services;
}

/** Healthy and total endpoints per tier of a service's routes. */
export function tierCounts(routes: ServiceRoutes): TierCount[] {
  const byTier = new Map<number, TierCount>();
  for (const e of routes.endpoints) {
    let t = byTier.get(e.tier);
    if (!t) {
      t = { tier: e.tier, healthy: 0, total: 0 };
      byTier.set(e.tier, t);
    }
    t.total++;
    if (e.health === undefined || e.health === 'healthy') t.healthy++;
  }
  return [...byTier.values()].sort((a, b) => a.tier - b.tier);
}

/** How many recent convergences `/v1/convergence` lists. */
const RECENT_CONVERGENCES = 200;

/** A running control plane: store, registry, health and failover engines, pusher, stream and admin API on one fastify server. */
export class ControlPlane {
  readonly #config: ControlPlaneConfig;
  readonly #log: Logger;
  readonly #store: Store;
  readonly #metrics = createMetrics();
  readonly #sessions = new Map<string, AgentSession>();
  #app: FastifyInstance | undefined;
  #pusher: Pusher | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #events: EventLog | undefined;
  #webhooks: WebhookSender | undefined;
  #health: HealthEngine | undefined;
  #failover: FailoverEngine | undefined;
  readonly #convergences: Convergence[] = [];
  #unwatchStore: (() => void) | undefined;
  #replication: Replication | undefined;
  #startedAt = Date.now();

  /** This replica's place among the replicas (a standalone control plane leads alone). */
  cluster(): ClusterView {
    return this.#replication?.view() ?? { replicaId: 'standalone', role: 'standalone', leader: null, since: this.#startedAt, store: this.#config.store.kind };
  }

  /** The log of health and failover decisions (after start). */
  get events(): EventLog | undefined {
    return this.#events;
  }

  /** The health engine, whose drain and undrain the admin API exposes (after start). */
  get health(): HealthEngine | undefined {
    return this.#health;
  }

  /** The failover engine, whose manual failover and failback the admin API exposes (after start). */
  get failover(): FailoverEngine | undefined {
    return this.#failover;
  }

  constructor(config: ControlPlaneConfig, log: Logger, store: Store = createStore(config, log)) {
    this.#config = config;
    this.#log = log;
    this.#store = store;
  }

  /** Opens the store and starts listening. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const config = this.#config;
    const log = this.#log;
    const clock = Date.now;
    await this.#store.open();
    // The cluster's identity is a key like any other: written once, carried by backups, adopted by a restore.
    if (this.#store.get(CLUSTER_KEY) === undefined) await this.#store.put(CLUSTER_KEY, { id: this.#store.clusterId() });

    const metrics = this.#metrics;
    metrics.leader.set(1);
    const events = new EventLog(config.events.maxEvents, clock);
    // Only the leader's decisions are recorded; a follower's engines run as a hot standby and theirs are dropped.
    const leading = () => this.#replication === undefined || this.#replication.leading;
    const decisions: DecisionSink = {
      add: (e) => (leading() ? events.add(e) : undefined),
    };
    const webhooks = new WebhookSender({ hooks: config.webhooks, log, clock });
    this.#webhooks = webhooks;
    events.subscribe((e, adopted) => {
      // A follower holds the leader's decisions too; the leader alone sends their webhooks and counts them.
      if (adopted) return;
      webhooks.send(e);
      this.#replication?.decided();
      if (e.kind === 'failover') metrics.failovers.inc({ service: e.service });
      else metrics.healthTransitions.inc({ to: e.to });
      log.info({ event: e.kind, service: e.service, instance: e.instance, from: e.from, to: e.to, reason: e.reason }, 'decision');
    });
    const store = this.#store;
    const policies = new PolicyStore(store, config.services);
    const drainReason = (id: string) => store.get<{ reason: string }>(DRAINS_PREFIX + id)?.reason;
    const health = new HealthEngine({
      drainOf: drainReason,
      settings: { ...config.health, heartbeatTimeoutMs: config.heartbeat.timeoutMs },
      clock,
      events: decisions,
      onChange: () => pusher.schedule(),
    });
    const failover = new FailoverEngine({ failbackHoldMs: config.failover.failbackHoldMs, clock, events: decisions, onChange: () => pusher.schedule() });
    const rings = new RingPublisher();
    const build = (nextVersion: number): Record<string, ServiceRoutes> => {
      const services = withPolicies(
        registry.routingServices((r) => health.routed(r)),
        policies,
      );
      const multiTier = new Set<string>();
      for (const [name, routes] of Object.entries(services)) {
        const tiers = tierCounts(routes);
        if (tiers.length > 1) {
          multiTier.add(name);
          routes.activeTier = failover.evaluate(name, tiers);
        }
        rings.attach(name, routes, routes.activeTier, nextVersion);
      }
      failover.retain(multiTier);
      rings.retain(new Set(Object.keys(services)));
      return services;
    };
    const pusher = new Pusher({
      build,
      store: this.#store,
      log,
      clock,
      nonce: () => randomBytes(8).toString('hex'),
      debounceMs: config.push.debounceMs,
      maxDelayMs: config.push.maxDelayMs,
      startupGraceMs: config.push.startupGraceMs,
      onVersion: (v) => metrics.tableVersion.set(v),
      onTable: (t) => this.#replication?.tableMade(t),
      onConverged: (c) => {
        metrics.convergence.observe(c.durationMs / 1000);
        this.#convergences.push(c);
        if (this.#convergences.length > RECENT_CONVERGENCES) this.#convergences.shift();
      },
    });
    // A replica follows until elected: it must not make versions of its own, even before it has joined the others.
    if (store instanceof EtcdStore) {
      pusher.setFollowing(true);
      metrics.leader.set(0);
    }
    const registry = new Registry({
      clock,
      onChange: (record) => {
        health.update(record);
        pusher.schedule();
        this.#replication?.changed(record);
      },
      onForget: (record) => {
        health.forget(record);
        this.#replication?.forgotten(record);
      },
      // A service name, once seen, is configuration: remembered across restarts.
      onNewService: (names) => {
        this.#store.put(SERVICES_KEY, names).catch((e: unknown) => log.error({ err: e }, 'could not persist services'));
      },
      knownServices: this.#store.get<string[]>(SERVICES_KEY) ?? [],
      // The agent is on another replica now: its stream here is half-open.
      onReplacedLocal: (record) => this.#sessions.get(record.agentId)?.close(CloseCodes.REPLACED, 'the agent connected to another control-plane replica'),
    });
    /** Re-derives what comes from the store (policies, drains, known services) after it changed under this replica, and pushes. */
    const storedDrains = () => {
      const drains = new Map<string, string>();
      for (const key of store.keys(DRAINS_PREFIX)) drains.set(key.slice(DRAINS_PREFIX.length), store.get<{ reason: string }>(key)?.reason ?? 'restored drain');
      return drains;
    };
    const followStore = () => {
      policies.reload();
      health.syncDrains(storedDrains());
      registry.replaceKnownServices(store.get<string[]>(SERVICES_KEY) ?? []);
      pusher.schedule();
    };
    // Writes made through another replica arrive one key at a time (one
    // transaction can carry several); they are followed once per turn of the
    // event loop, so a push never sees half of a transaction.
    let following = false;
    this.#unwatchStore = store.onChange?.(() => {
      if (following) return;
      following = true;
      queueMicrotask(() => {
        following = false;
        try {
          followStore();
        } catch (e) {
          log.error({ err: e }, 'could not follow a change of the store');
        }
      });
    });
    this.#events = events;
    this.#health = health;
    this.#failover = failover;
    this.#pusher = pusher;

    const policyOf = (service: string) => policies.policyOf(service).balancer;
    const stats = new ServiceStats();
    const ctx: SessionContext = {
      registry,
      pusher,
      health,
      stats,
      ringAgrees: (service, reported) => rings.agrees(service, policyOf(service), reported),
      metrics: this.#metrics,
      log,
      clock,
      decode: createAgentMessageDecoder(config.stream.maxMessageBytes),
      helloTimeoutMs: config.stream.helloTimeoutMs,
      joinToken: config.auth.joinToken,
      sessions: this.#sessions,
      relay: (agentId, report) => this.#replication?.observed(agentId, report),
      refusal: () => this.#replication?.refusal(),
    };

    const https = await httpsOptions(config.tls);
    const auth = createAuth({ tokens: await tokensFromConfig(config.auth), open: ['/healthz', '/v1/stream', '/docs', '/docs/*', '/', '/dashboard/*'], log: log.child({ component: 'auth' }) });
    const app = Fastify({
      loggerInstance: log.child({ component: 'http' }) as unknown as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: BODY_LIMIT,
      ...(https ? { https } : {}),
    }) as unknown as FastifyInstance;
    this.#app = app;
    installApiErrors(app);
    await app.register(swagger, {
      openapi: {
        info: { title: 'meshlet control plane admin API', version: '1', description: 'Services, instances, policies, failover, agents, events and snapshots. See docs/admin-api.md.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    await app.register(websocket, {
      // Frames up to 4x the limit reach the decoder, which answers with a
      // reason; beyond that ws closes the stream with 1009 on its own.
      options: { maxPayload: config.stream.maxMessageBytes * 4 },
    });
    app.addHook('onRequest', auth.hook);
    app.get('/v1/stream', { websocket: true }, (socket, req) => {
      new AgentSession(socket, req.socket.remoteAddress ?? 'unknown', ctx);
    });
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
      convergences: () => this.#convergences,
      policyOf: (s) => policies.policyOf(s),
      statsOf: (s) => stats.view(s),
      cluster: () => this.cluster(),
    });
    registerLogLevelRoutes(app, log);
    registerAdminRoutes(app, {
      policies,
      failover,
      events,
      following: () => this.#replication?.following(),
      drain: async (id, reason) => {
        if (!health.drain(id, reason)) return false;
        try {
          await store.put(DRAINS_PREFIX + id, { reason });
        } catch (e) {
          // A drain the store did not keep must not route differently from what the other replicas (and a restart) see.
          health.syncDrains(storedDrains());
          throw e;
        }
        return true;
      },
      undrain: async (id) => {
        // A drain kept for an instance that is gone (or not back yet) can be ended too.
        const kept = store.get(DRAINS_PREFIX + id) !== undefined;
        const known = health.undrain(id);
        if (kept) await store.delete(DRAINS_PREFIX + id);
        return known || kept;
      },
      instanceState: (id) => {
        const v = health.list().find((x) => x.id === id);
        return v ? { service: v.service, state: v.state } : undefined;
      },
      policiesChanged: () => pusher.schedule(),
      snapshot: (since) => takeSnapshot(store, since === undefined ? {} : { since }),
      restore: async (input) => {
        const verified = verifySnapshots(input);
        if (!verified.ok) {
          const { index, field, message } = verified.error;
          return { ok: false, message, field: `snapshots[${index}]${field ? `.${field}` : ''}` };
        }
        const invalid = checkRestoredState(verified.state);
        if (invalid) return { ok: false, message: invalid };
        try {
          const done = await restoreSnapshots(store, verified);
          log.info({ keys: done.keys, revision: done.revision }, 'restored a backup');
          return { ok: true, keys: done.keys, revision: done.revision };
        } finally {
          // Everything derived from the store follows it, even after a write that failed part-way.
          followStore();
        }
      },
    });

    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (e) {
      pusher.close();
      await app.close().catch(() => undefined);
      throw e;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
    if (store instanceof EtcdStore) {
      const shedAgents = (reason: string) => {
        // Not GOING_AWAY: the agents are moving, not shutting down; every close sends an agent to its next URL.
        for (const s of this.#sessions.values()) s.close(CloseCodes.CUT_OFF, reason);
      };
      this.#replication = new Replication({ store, config, log, clock, registry, pusher, health, failover, rings, events, stats, metrics, tierCounts, shedAgents }, port);
      try {
        await this.#replication.start();
      } catch (e) {
        pusher.close();
        await this.#replication.close().catch(() => undefined);
        await app.close().catch(() => undefined);
        throw e;
      }
    }
    this.#sweeper = setInterval(() => {
      this.#replication?.vouch(config.heartbeat.timeoutMs);
      for (const record of registry.silentAgents(config.heartbeat.timeoutMs)) {
        if (record.replica) {
          // An agent of another replica: that replica stopped vouching for it (it died, and the agent has not reconnected anywhere).
          const why = record.replica.orphaned ? `its control-plane replica ${record.replica.id} went away and it did not reconnect` : `replica ${record.replica.id} has not heard from it`;
          log.warn({ agentId: record.agentId, replica: record.replica.id }, `${why}; removing it from the routing table`);
          registry.disconnect(record, `${why} within ${config.heartbeat.timeoutMs} ms`);
          continue;
        }
        log.warn({ agentId: record.agentId }, 'agent missed its heartbeats; removing it from the routing table');
        this.#sessions.get(record.agentId)?.expire(config.heartbeat.timeoutMs);
      }
      registry.forget(config.registry.forgetAfterMs);
      health.tick();
      // A follower's serving tiers are the leader's (adopted with its tables); only the leader's move on with time.
      if (leading()) failover.tick();
      pusher.expirePending();
      stats.prune();
    }, config.heartbeat.checkIntervalMs);
    log.info({ host: config.listen.host, port, dataDir: config.dataDir, tableVersion: pusher.version }, 'control plane listening');
    return { host: config.listen.host, port };
  }

  /** Closes every stream with a reason, stops listening and flushes the store. */
  async stop(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#unwatchStore?.();
    this.#pusher?.close();
    // Replicas first: the others must see this one's agents as moving (they reconnect there), not as shut down.
    await this.#replication?.close();
    for (const s of this.#sessions.values()) s.close(CloseCodes.GOING_AWAY, 'control plane shutting down');
    await this.#app?.close();
    // Decisions still queued for webhooks get a moment to go out.
    if (this.#webhooks) await Promise.race([this.#webhooks.idle(), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.#webhooks?.close();
    await this.#store.close();
    this.#log.info('control plane stopped');
  }
}
