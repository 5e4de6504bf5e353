import { type Clock, CloseCodes, type ControlPlaneConfig, type Logger, systemClock } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { type ControlPlaneParts, createParts } from './assembly/create-parts.js';
import type { ManagedFailover } from './failover/managed/managed-failover.js';
import type { InstanceRoles } from './health/instance-roles.js';
import { createCoordination, type RunningCoordination } from './assembly/create-coordination.js';
import { createReplication } from './assembly/create-replication.js';
import { createServer } from './assembly/create-server.js';
import { openAuthority } from './assembly/open-authority.js';
import { openRotation, type RunningRotation } from './assembly/open-rotation.js';
import { CA_STATE_KEY } from './identity/stored-ca-state.js';
import { watchStore } from './assembly/follow-store.js';
import { sendAwayRevoked } from './join/send-away-revoked.js';
import { registerRoutes } from './assembly/register-routes.js';
import { startSweeper } from './assembly/start-sweeper.js';
import type { EventLog } from './events/event-log.js';
import type { FailoverEngine } from './failover/failover-engine.js';
import type { ClusterView, Replication } from './ha/replication.js';
import type { HealthEngine } from './health/health-engine.js';
import type { CertificateAuthority } from './identity/certificate-authority.js';
import { createMetrics } from './metrics.js';
import { RecentConvergences } from './push/recent-convergences.js';
import { createStore } from './store/create-store.js';
import type { Store } from './store/store.js';
import type { AgentSession } from './stream/agent-session.js';

export { withPolicies } from './assembly/build-routes.js';
export { checkSecurity, isLoopback } from './assembly/check-security.js';
export { tierCounts } from './failover/tier-counts.js';

const CLUSTER_KEY = 'cluster';
/** How many recent convergences `/v1/convergence` lists. */
const RECENT_CONVERGENCES = 200;

/**
 * A running control plane: store, registry, health and failover engines,
 * pusher, stream and admin API on one fastify server. Whether it stands
 * alone or is one replica of several is its {@link Replication}, chosen
 * once from the store.
 */
export class ControlPlane {
  readonly #config: ControlPlaneConfig;
  readonly #log: Logger;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #metrics = createMetrics();
  readonly #sessions = new Map<string, AgentSession>();
  readonly #convergences = new RecentConvergences(RECENT_CONVERGENCES);
  readonly #replication: Replication;
  #parts: ControlPlaneParts | undefined;
  #app: FastifyInstance | undefined;
  #sweeper: NodeJS.Timeout | undefined;
  #unwatchStore: (() => void) | undefined;
  #authority: CertificateAuthority | undefined;
  #rotation: RunningRotation | undefined;
  #coordination: RunningCoordination | undefined;

  constructor(
    config: ControlPlaneConfig,
    log: Logger,
    store: Store = createStore(config, log),
    clock: Clock = systemClock,
  ) {
    this.#config = config;
    this.#log = log;
    this.#store = store;
    this.#clock = clock;
    this.#replication = createReplication(store, config, log, clock);
  }

  /** This replica's place among the replicas (a standalone control plane leads alone). */
  cluster(): ClusterView {
    return this.#replication.view();
  }

  /** The log of health and failover decisions (after start). */
  get events(): EventLog | undefined {
    return this.#parts?.events;
  }

  /** The health engine, whose drain and undrain the admin API exposes (after start). */
  get health(): HealthEngine | undefined {
    return this.#parts?.health;
  }

  /** The failover engine, whose manual failover and failback the admin API exposes (after start). */
  get failover(): FailoverEngine | undefined {
    return this.#parts?.failover;
  }

  /** The managed failover of stateful services, and the roles the checks report that it reads (after start). */
  get managedFailover(): { failover: ManagedFailover; roles: InstanceRoles } | undefined {
    return this.#parts && { failover: this.#parts.managedFailover, roles: this.#parts.roles };
  }

  /** The CA that signs the agents' workload certificates (after start). */
  get authority(): CertificateAuthority | undefined {
    return this.#authority;
  }

  /** Opens the store and starts listening. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const config = this.#config;
    const log = this.#log;
    const store = this.#store;
    const replication = this.#replication;
    // The CA before anything listens: one that cannot open (a bad operator file) stops the start. After a root
    // rotation the store holds the CA in force, so the source's own issuer may have expired since.
    await store.open();
    const authority = await openAuthority(config, log, this.#clock, store.get(CA_STATE_KEY) !== undefined);
    this.#authority = authority;
    // A root rotation's state, in the store, overrides the CA's source: it is what the agents trust now.
    const rotation = await openRotation({
      config,
      log,
      clock: this.#clock,
      store,
      metrics: this.#metrics,
      replication,
      authority,
      changed: () => this.#parts?.pusher.schedule(),
    });
    this.#rotation = rotation;
    // The cluster's identity is a key like any other: written once, carried by backups, adopted by a restore.
    if (store.get(CLUSTER_KEY) === undefined) await store.put(CLUSTER_KEY, { id: store.clusterId() });

    const metrics = this.#metrics;
    const common = {
      config,
      log,
      clock: this.#clock,
      store,
      metrics,
      replication,
      sessions: this.#sessions,
      convergences: this.#convergences,
    };
    const parts = createParts({ ...common, trust: () => rotation.rotation.trust() });
    this.#parts = parts;
    metrics.leader.set(replication.leading ? 1 : 0);
    replication.attach({
      ...parts,
      metrics,
      shedAgents: (reason) => this.#shedAgents(reason),
      // The agent is on another replica now: its stream here is half-open.
      closeReplaced: (record) =>
        this.#sessions
          .get(record.agentId)
          ?.close(CloseCodes.REPLACED, 'the agent connected to another control-plane replica'),
    });
    this.#unwatchStore = watchStore(store, parts, log, () => sendAwayRevoked(this.#sessions, parts.joinCredentials));
    // Application locks and elections: in the same store, served to agents over their streams.
    const coordination = await createCoordination({ ...common, parts, peerOf: (id) => this.#sessions.get(id) });
    this.#coordination = coordination;

    const app = await createServer(config, log, this.#clock, this.#metrics);
    this.#app = app;
    // Agents may present leaves of any issuer of the bundle (both, during a root rotation).
    const streamTrust = () => ({ roots: authority.trustBundle(), intermediates: authority.knownIssuers() });
    registerRoutes(app, {
      ...common,
      parts,
      issuer: authority,
      rotation: rotation.rotation,
      streamTrust,
      coordinator: coordination.coordinator,
    });
    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (e) {
      parts.pusher.close();
      await coordination.stop();
      await app.close().catch(() => undefined);
      throw e;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
    try {
      await replication.start(port);
    } catch (e) {
      parts.pusher.close();
      await coordination.stop();
      await replication.close().catch(() => undefined);
      await app.close().catch(() => undefined);
      throw e;
    }
    this.#sweeper = startSweeper(config, log, parts, replication, this.#sessions);
    rotation.drive(parts.registry);
    log.info(
      { host: config.listen.host, port, dataDir: config.dataDir, tableVersion: parts.pusher.version },
      'control plane listening',
    );
    return { host: config.listen.host, port };
  }

  /** Not GOING_AWAY: the agents are moving, not shutting down; every close sends an agent to its next URL. */
  #shedAgents(reason: string): void {
    for (const s of this.#sessions.values()) s.close(CloseCodes.CUT_OFF, reason);
  }

  /** Closes every stream with a reason, stops listening and flushes the store. */
  async stop(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#rotation?.stop();
    this.#unwatchStore?.();
    this.#parts?.pusher.close();
    await this.#coordination?.stop();
    // Replicas first: the others must see this one's agents as moving (they reconnect there), not as shut down.
    await this.#replication.close();
    for (const s of this.#sessions.values()) s.close(CloseCodes.GOING_AWAY, 'control plane shutting down');
    await this.#app?.close();
    // Decisions still queued for webhooks get a moment to go out.
    const webhooks = this.#parts?.webhooks;
    if (webhooks) await Promise.race([webhooks.idle(), new Promise((r) => setTimeout(r, 2000).unref())]);
    webhooks?.close();
    await this.#store.close();
    this.#log.info('control plane stopped');
  }
}
