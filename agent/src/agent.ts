import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { type AgentConfig, ConfigError, type Health, type Logger, type Routes } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { Pool } from 'undici';
import { startAdminServer } from './admin/start-admin-server.js';
import type { ControlClient } from './control/control-client.js';
import { createAgentControlClient } from './control/agent-control-client.js';
import { Coordination } from './coordination/coordination.js';
import { agentFailover } from './failover/agent-failover.js';
import { DeferredFence } from './failover/deferred-fence.js';
import type { PrimaryFence } from './failover/primary-fence.js';
import { EndpointStatsMap } from './balancer/endpoint-stats.js';
import { HashTableCache } from './balancer/hash-table-cache.js';
import { ObservationRecorder } from './control/observation-recorder.js';
import { RingChecksums } from './control/ring-checksums.js';
import { agentServiceIssues } from './control/agent-service.js';
import { controlPlaneUrlIssues, controlPlaneUrls } from './control/control-plane-urls.js';
import type { TableApplier } from './control/table-applier.js';
import { agentTableApplier, installPersisted } from './control/agent-table-applier.js';
import { Subscriptions } from './control/subscriptions.js';
import { TableCache } from './control/table-cache.js';
import type { HealthMonitor } from './health/health-monitor.js';
import { ownServiceAuthz } from './authz/own-service-authz.js';
import { IdentityManager } from './identity/identity-manager.js';
import { healthCheckIssues } from './health/health-check-issues.js';
import { instanceHealthMonitor } from './health/instance-health.js';
import { type AgentMtls, agentMtls } from './identity/agent-mtls.js';
import type { WorkloadIdentity } from './identity/workload-identity.js';
import { InboundListener } from './listener/inbound-listener.js';
import type { MtlsMode } from './listener/inbound-mtls.js';
import { InFlightAttempts } from './listener/in-flight-attempts.js';
import { type OriginPools, originOf } from './listener/origin-pools.js';
import { OutboundListener } from './listener/outbound-listener.js';
import { agentPassThrough } from './listener/agent-pass-through.js';
import { closeServer } from './listener/server-lifecycle.js';
import { AGENT_LISTENERS as GUARDS, listenGuarded } from './listener/guard-listener.js';
import { type AgentMetrics, createAgentMetrics } from './metrics.js';
import { RouteTable } from './route/route-table.js';
import { HashShardProvider } from './sharding/shard-hash-provider.js';
import { ShardMaps } from './sharding/shard-maps.js';
import { RangeShardProvider } from './sharding/shard-range-provider.js';
import { TcpServices } from './tcp/tcp-services.js';

/** Addresses the agent actually bound (ports may have been 0 in the config). */
export interface AgentAddresses {
  outbound: number | undefined;
  inbound: number | undefined;
  admin: number;
  /** Dedicated upstream ports by service. */
  upstreams: Record<string, number>;
}

/** What an {@link Agent} is built with besides its config and logger. */
export interface AgentDeps {
  random?: () => number;
  clock?: () => number;
  /**
   * A fixed workload identity (tests of the listeners) instead of the
   * certificates the control plane signs for the agent over its stream.
   */
  identity?: WorkloadIdentity | undefined;
}

/** A running agent: listeners, health monitor, control-plane client and admin server. */
export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #clock: () => number;
  readonly #cache: TableCache;
  readonly #mtls: AgentMtls;
  readonly #pools: OriginPools;
  readonly #inFlight = new InFlightAttempts();
  #table: RouteTable | undefined;
  #outbound: OutboundListener | undefined;
  readonly #upstreams: OutboundListener[] = [];
  readonly #stats = new EndpointStatsMap();
  readonly #subscriptions: Subscriptions;
  readonly #observations: ObservationRecorder;
  readonly #rings = new RingChecksums();
  readonly #tables = new HashTableCache();
  readonly #shards = new ShardMaps([new RangeShardProvider(), new HashShardProvider()]);
  #tableApplier: TableApplier | undefined;
  readonly #metrics: AgentMetrics;
  /** The access log's logger; absent when `accessLog.enabled` is off. */
  readonly #accessLog: Logger | undefined;
  #observationTimer: NodeJS.Timeout | undefined;
  #inbound: InboundListener | undefined;
  #appPool: Pool | undefined;
  #monitor: HealthMonitor | undefined;
  #failover: ReturnType<typeof agentFailover>;
  /** The inbound TCP path's fence: closed to `role: primary` until the failover manager runs (with instance.failover). */
  readonly #fence: DeferredFence;
  #client: ControlClient | undefined;
  readonly #coordination: Coordination;
  #admin: FastifyInstance | undefined;
  #health: Health | undefined;
  #listening = false;
  #inboundPort: number | undefined;
  readonly #identity: WorkloadIdentity;
  /** Present unless an identity was given: it gets and renews the certificate over the stream. */
  readonly #identityManager: IdentityManager | undefined;
  readonly #tcp: TcpServices;

  constructor(config: AgentConfig, log: Logger, deps: AgentDeps = {}) {
    const issues = controlPlaneUrlIssues(config.controlPlane);
    if (issues.length > 0) throw new ConfigError('the controlPlane settings', issues);
    const serviceIssues = agentServiceIssues(config);
    if (serviceIssues.length > 0) throw new ConfigError('the service setting', serviceIssues);
    const checkIssues = healthCheckIssues(config.instance);
    if (checkIssues.length > 0) throw new ConfigError('the instance.healthCheck settings', checkIssues);
    this.#config = config;
    this.#fence = new DeferredFence(config.instance?.failover !== undefined);
    this.#log = log;
    this.#random = deps.random ?? Math.random;
    this.#clock = deps.clock ?? Date.now;
    this.#cache = new TableCache(config.dataDir, log, this.#clock);
    this.#subscriptions = new Subscriptions({
      // An instance's own service too: its table then carries the service's own policy (its mTLS mode, its
      // authorization).
      declared: [
        ...new Set([...config.upstreams.map((u) => u.service), ...(config.instance ? [config.instance.service] : [])]),
      ],
      waitMs: config.controlPlane.subscribeWaitMs,
      subscribe: (services) => this.#client?.send({ type: 'subscribe', services }),
      log: log.child({ component: 'subscriptions' }),
    });
    this.#observations = new ObservationRecorder(this.#clock());
    this.#identityManager =
      deps.identity === undefined
        ? new IdentityManager({
            send: (csr) => this.#client?.send(csr) ?? false,
            clock: this.#clock,
            random: this.#random,
            log: log.child({ component: 'identity' }),
            dataDir: config.dataDir,
          })
        : undefined;
    this.#identity = deps.identity ?? (this.#identityManager as IdentityManager);
    this.#metrics = createAgentMetrics({
      controlPlaneConnected: () => this.#client?.connected ?? false,
      tableVersion: () => this.#table?.version ?? 0,
      certificateExpiry: () => this.#identity.current()?.notAfterMs,
      coordinationOpenRequests: () => this.#coordination.openRequests.open,
      failoverTerm: () => this.#failover?.status.term,
    });
    this.#coordination = new Coordination({
      send: (message) => this.#client?.send(message) ?? false,
      clock: this.#clock,
      log: log.child({ component: 'coordination' }),
      onOutcome: (op, result) => this.#metrics.coordinationRequests.inc({ op, result }),
    });
    this.#accessLog = config.accessLog.enabled ? log.child({ component: 'access' }) : undefined;
    const tcpParts = { table: () => this.#table, connector: () => this.#mtls.connector, log, metrics: this.#metrics };
    this.#tcp = new TcpServices(config, { ...tcpParts, stats: this.#stats, clock: this.#clock });
    const tcp = this.#tcp.acceptInbound;
    const mtlsDeps = { log, clock: this.#clock, metrics: this.#metrics, ownMode: () => this.#ownMtlsMode(), tcp };
    this.#mtls = agentMtls(this.#identity, mtlsDeps);
    this.#pools = this.#mtls.pools;
  }

  /** The agent's Prometheus registry (served at the admin listener's `/metrics`). */
  get metrics(): AgentMetrics {
    return this.#metrics;
  }

  /** The agent's workload identity: its certificate, key and trust bundle, and their changes. */
  get identity(): WorkloadIdentity {
    return this.#identity;
  }

  /** The callee side of managed failover's fencing, for the inbound TCP path (open without `instance.failover`). */
  get primaryFence(): PrimaryFence {
    return this.#fence;
  }

  /** The table in force. */
  get table(): RouteTable | undefined {
    return this.#table;
  }

  /** Loads the persisted table, binds the listeners, starts checks and the control-plane client. */
  async start(): Promise<AgentAddresses> {
    try {
      return await this.#start();
    } catch (e) {
      // Whatever did start (a listener bound before another's port was taken) is closed again.
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  async #start(): Promise<AgentAddresses> {
    const c = this.#config;
    await mkdir(c.dataDir, { recursive: true, mode: 0o700 });
    await installPersisted(this.#cache, (routes) => this.#install(routes, 'disk'), this.#log);

    const addresses: AgentAddresses = { outbound: undefined, inbound: undefined, admin: 0, upstreams: {} };
    const m = this.#metrics;
    if (c.listeners.outbound.enabled) {
      this.#outbound = this.#outboundListener(undefined);
      addresses.outbound = await listenGuarded(this.#outbound.server, c.listeners.outbound, GUARDS.outbound, m);
    }
    for (const u of c.upstreams) {
      if (u.port === undefined) continue;
      const listener = this.#outboundListener(u.service);
      this.#upstreams.push(listener);
      this.#tcp.attach(listener, u);
      const guard = GUARDS.upstream(u.service);
      addresses.upstreams[u.service] = await listenGuarded(listener.server, { ...u, port: u.port }, guard, m);
    }
    const instance = c.instance;
    if (instance) {
      this.#appPool = new Pool(originOf(instance.app.host, instance.app.port), {
        connect: { timeout: c.proxy.connectTimeoutMs },
        keepAliveTimeout: 4_000,
      });
      const authzDeps = { metrics: this.#metrics, log: this.#log, clock: this.#clock };
      const authz = ownServiceAuthz(instance.service, () => this.#table, this.#identity, authzDeps);
      this.#tcp.serveInbound({ mode: () => this.#ownMtlsMode(), authz, fence: this.#fence });
      this.#inbound = new InboundListener({
        app: this.#appPool,
        appName: `${instance.app.host}:${instance.app.port}`,
        appHost: instance.app.host,
        appPort: instance.app.port,
        log: this.#log.child({ component: 'inbound' }),
        requestTimeoutMs: c.proxy.requestTimeoutMs,
        connectTimeoutMs: c.proxy.connectTimeoutMs,
        metrics: this.#metrics,
        mtls: this.#mtls.inbound,
        appProtocol: () => this.#table?.routes.services[instance.service]?.policy?.protocol,
        authz,
      });
      addresses.inbound = await listenGuarded(this.#inbound.server, c.listeners.inbound, GUARDS.inbound, m);
      this.#inboundPort = addresses.inbound;
      this.#monitor = instanceHealthMonitor(instance, this.#appPool, this.#log, this.#clock, (health, send) => {
        this.#health = health;
        if (send) this.#client?.sendHealth(health);
      });
    }
    this.#listening = true;

    this.#client = await createAgentControlClient(c, {
      inboundPort: () => this.#inboundPort,
      log: this.#log.child({ component: 'control' }),
      random: this.#random,
      clock: this.#clock,
      tableVersion: () => this.#table?.version ?? 0,
      health: () => this.#health,
      upstreams: () => this.#subscriptions.helloUpstreams(),
      applyRoutes: (routes) => this.#applier().apply(routes),
      coordination: (message) => this.#coordination.onMessage(message),
      onConnection: (connected) => this.#coordination.connectionChanged(connected),
      ...(this.#identityManager ? { certificates: this.#identityManager } : {}),
    });

    const admin = await startAdminServer(
      c,
      {
        table: () => this.#table,
        listening: () => this.#listening,
        controlPlane: () => ({
          connected: this.#client?.connected ?? false,
          url: this.#client?.url ?? controlPlaneUrls(c.controlPlane)[0] ?? '',
          urls: this.#client?.urls ?? controlPlaneUrls(c.controlPlane),
          lastClose: this.#client?.lastClose,
        }),
        appHealth: () => this.#monitor?.status,
        subscriptions: () => this.#subscriptions.describe(),
        ringChecksums: () => this.#rings.current,
        shards: { maps: this.#shards, subscribe: this.#subscriptions, self: instance && (instance.id ?? c.agentId) },
        identity: this.#identity,
        clock: this.#clock,
        coordination: this.#coordination,
      },
      m,
      this.#log,
    );
    this.#admin = admin.app;
    addresses.admin = admin.port;

    this.#monitor?.start();
    const failover = { config: c, health: this.#monitor, client: this.#coordination.client, metrics: m };
    this.#failover = agentFailover({ ...failover, table: () => this.#table, clock: this.#clock, log: this.#log });
    if (this.#failover) this.#fence.attach(this.#failover);
    this.#client.start();
    this.#observationTimer = setInterval(() => this.#reportObservations(), c.controlPlane.observationIntervalMs);
    this.#observationTimer.unref();
    this.#log.info({ ...addresses, agentId: c.agentId, service: instance?.service }, 'agent started');
    return addresses;
  }

  #outboundListener(service: string | undefined): OutboundListener {
    const own = () => [this.#outbound, this.#inbound, this.#admin, ...this.#upstreams];
    const shared = { stats: this.#stats, clock: this.#clock, random: this.#random };
    return new OutboundListener({
      ...shared,
      table: () => this.#table,
      pools: this.#pools,
      log: this.#log.child({ component: 'outbound', ...(service ? { upstream: service } : {}) }),
      subscriptions: this.#subscriptions,
      accessLog: this.#accessLog,
      inFlight: this.#inFlight,
      h2: { ...shared, sessions: this.#mtls.h2, log: this.#log, grpcCalls: this.#metrics.grpcCalls },
      ...(service ? { service } : {}),
      passThrough: service ? undefined : agentPassThrough(this.#config, own, this.#log),
    });
  }

  /** The mTLS mode of the agent's own service, from its routing table; strict until the table says otherwise. */
  #ownMtlsMode(): MtlsMode {
    const service = this.#config.instance?.service;
    const policy = service === undefined ? undefined : this.#table?.routes.services[service]?.policy;
    return policy?.mtls?.mode ?? 'strict';
  }

  #install(routes: Routes, source: 'control-plane' | 'disk'): void {
    const deps = {
      random: this.#random,
      clock: this.#clock,
      stats: this.#stats,
      zone: this.#config.zone ?? this.#config.instance?.zone,
      observations: this.#observations,
      metrics: this.#metrics,
      tableBudget: this.#config.tableBudget,
      tables: this.#tables,
      inFlight: this.#inFlight,
    };
    const table = new RouteTable(routes, source, this.#clock(), deps, this.#table);
    this.#table = table;
    this.#rings.update(table);
    this.#subscriptions.onTable(table);
    this.#shards.onTable(table);
    this.#tcp.onTable(table);
    this.#pools.retain(table.origins());
    this.#mtls.h2.retain(table.origins());
    const ids = new Set<string>();
    for (const name of table.serviceNames()) for (const e of table.service(name)?.endpoints ?? []) ids.add(e.id);
    this.#stats.retain(ids);
    this.#inFlight.retain(ids);
    this.#failover?.onTable();
  }

  /** Applies the control plane's tables in order (see {@link TableApplier}); made once, on first use. */
  #applier(): TableApplier {
    const parts = {
      config: this.#config,
      log: this.#log,
      cache: this.#cache,
      rings: this.#rings,
      tables: this.#tables,
    };
    const install = (routes: Routes) => this.#install(routes, 'control-plane');
    return (this.#tableApplier ??= agentTableApplier({ ...parts, held: () => this.#table?.routes, install }));
  }

  /** Sends what was observed since the last report; when not connected, drops it (stale counts would mislead). */
  #reportObservations(): void {
    const report = this.#observations.take(this.#clock());
    if (report !== undefined) this.#client?.send(report);
  }

  /** Stops accepting, lets in-flight requests finish, closes everything. */
  async stop(): Promise<void> {
    this.#client?.stop();
    this.#coordination.close();
    this.#tableApplier?.stop();
    await this.#cache.flush();
    this.#identityManager?.stop();
    this.#failover?.stop();
    this.#monitor?.stop();
    if (this.#observationTimer) clearInterval(this.#observationTimer);
    this.#subscriptions.close();
    const all = [this.#outbound?.server, this.#inbound?.server, ...this.#upstreams.map((u) => u.server)];
    const servers = all.filter((s): s is Server => s !== undefined);
    this.#inbound?.close();
    this.#tcp.close();
    await Promise.all(servers.map(closeServer));
    await this.#admin?.close();
    this.#table?.close();
    await this.#mtls.h2.close();
    await this.#pools.close();
    await this.#appPool?.close();
    this.#log.info('agent stopped');
  }
}
