import { randomBytes } from 'node:crypto';
import type { TrustBundle } from '@meshlet/shared';
import { AuthzStore } from '../authz/authz-store.js';
import { CallerLog } from '../authz/caller-log.js';
import { EventLog } from '../events/event-log.js';
import { FailoverEngine } from '../failover/failover-engine.js';
import { HealthEngine } from '../health/health-engine.js';
import { InstanceRoles } from '../health/instance-roles.js';
import type { ManagedFailover } from '../failover/managed/managed-failover.js';
import { createManagedFailover } from './create-managed-failover.js';
import { JoinCredentialStore } from '../join/join-credential-store.js';
import { PolicyStore } from '../policies/policy-store.js';
import { Pusher } from '../push/pusher.js';
import { Registry } from '../registry/registry.js';
import { serviceHeldBy } from '../registry/service-holds.js';
import { ServiceExpiry } from '../registry/service-expiry.js';
import { RingPublisher } from '../rings/ring-publisher.js';
import { ServiceStats } from '../stats/service-stats.js';
import type { Store } from '../store/store.js';
import { WebhookSender } from '../webhooks/webhook-sender.js';
import type { AssemblyContext } from './assembly-context.js';
import { buildRoutes } from './build-routes.js';
import { DurableDrains } from './durable-drains.js';
import { recordDecisions } from './record-decisions.js';

const SERVICES_KEY = 'services';

/** The control plane's long-lived parts, wired to each other. */
export interface ControlPlaneParts {
  events: EventLog;
  webhooks: WebhookSender;
  policies: PolicyStore;
  /** Per-service authorization policies (API over config file). */
  authz: AuthzStore;
  /** Who calls whom, from callers' reports: for `meshctl authz suggest`. */
  callers: CallerLog;
  /** Per-service join credentials minted through the admin API. */
  joinCredentials: JoinCredentialStore;
  drains: DurableDrains;
  health: HealthEngine;
  /**
   * The roles and replication offsets the agents' checks report (recorded by
   * the stream sessions, forgotten with the instance): the table builder
   * marks endpoints with them, and the managed failover reads them.
   */
  roles: InstanceRoles;
  failover: FailoverEngine;
  /** Managed failover of stateful services (`policy.failover.mode: managed`): `ServiceRoutes.failover`. */
  managedFailover: ManagedFailover;
  rings: RingPublisher;
  pusher: Pusher;
  registry: Registry;
  /** Forgets services that had no instance and no policy for `registry.serviceExpiryMs`. */
  serviceExpiry: ServiceExpiry;
  stats: ServiceStats;
}

/** The known service names kept in the store. */
export function storedServices(store: Store): string[] {
  return store.get<string[]>(SERVICES_KEY) ?? [];
}

/**
 * Makes the registry, the engines, the pusher and the decision log, and wires
 * them: a registry or health change schedules a table, a table is built from
 * all of them, what happens locally is told to the replication.
 */
export function createParts(ctx: AssemblyContext & { trust?: () => TrustBundle }): ControlPlaneParts {
  const { config, log, clock, store, metrics, replication } = ctx;
  const events = new EventLog(config.events.maxEvents, clock);
  const webhooks = new WebhookSender({ hooks: config.webhooks, log, clock });
  const decisions = recordDecisions(events, { replication, webhooks, metrics, log });
  const policies = new PolicyStore(store, config.services, { events });
  const authz = new AuthzStore(store, config.authz, { log, metrics });
  const joinCredentials = new JoinCredentialStore(store, clock);
  const health: HealthEngine = new HealthEngine({
    drainOf: (id) => drains.reasonOf(id),
    settings: { ...config.health, heartbeatTimeoutMs: config.heartbeat.timeoutMs },
    clock,
    events: decisions,
    onChange: () => pusher.schedule(),
  });
  const drains = new DurableDrains(store, health);
  const failover = new FailoverEngine({
    failbackHoldMs: config.failover.failbackHoldMs,
    clock,
    events: decisions,
    onChange: () => pusher.schedule(),
  });
  // A change of an instance's role or check status is a table change (its endpoint's role and role label).
  const roles = new InstanceRoles();
  roles.onChange(() => pusher.schedule());
  const managedFailover: ManagedFailover = createManagedFailover({
    registry: { serviceNames: () => registry.serviceNames(), agents: () => registry.agents() },
    health,
    policies,
    roles,
    events: decisions,
    clock,
    onChange: () => pusher.schedule(),
  });
  const rings = new RingPublisher();
  const pusher = new Pusher({
    build: (nextVersion) =>
      buildRoutes({ registry, health, policies, authz, failover, rings, roles, managedFailover }, nextVersion),
    store,
    log,
    clock,
    nonce: () => randomBytes(8).toString('hex'),
    debounceMs: config.push.debounceMs,
    maxDelayMs: config.push.maxDelayMs,
    startupGraceMs: config.push.startupGraceMs,
    // Reports lag the table by up to an observation window; twice that, and an endpoint's id is forgotten.
    forgetSentMs: 2 * config.health.observationWindowMs,
    onVersion: (v) => metrics.tableVersion.set(v),
    onTable: (t) => replication.tableMade(t),
    ...(ctx.trust ? { trust: ctx.trust } : {}),
    budget: config.tableBudget,
    // Replicas (and the leader's rotation) learn which bundle an agent holds through its registration.
    onTrustAcked: (sink) => replication.changed(sink.record),
    onConverged: (c) => {
      metrics.convergence.observe(c.durationMs / 1000);
      ctx.convergences.add(c);
    },
  });
  const registry = new Registry({
    clock,
    onChange: (record) => {
      // An agent of another replica: its role and offset come in its registration (this replica's own come from
      // their sessions, applyHealth).
      if (record.replica && record.instance && record.connected)
        roles.record(record.instance.service, record.instance.id, {
          role: record.role,
          replicationOffset: record.replicationOffset,
          healthy: record.health === 'healthy',
          at: clock(),
        });
      // A clean shutdown takes the instance out of the table: its role goes with it.
      if (record.instance && !record.connected && record.graceful)
        roles.forget(record.instance.service, record.instance.id);
      health.update(record);
      pusher.schedule();
      replication.changed(record);
    },
    onForget: (record) => {
      if (record.instance) roles.forget(record.instance.service, record.instance.id);
      health.forget(record);
      replication.forgotten(record);
    },
    // A service name, once seen, is configuration: remembered across restarts.
    onNewService: (names) => {
      store.put(SERVICES_KEY, names).catch((e: unknown) => log.error({ err: e }, 'could not persist services'));
    },
    knownServices: storedServices(store),
  });
  const serviceExpiry = new ServiceExpiry({
    clock,
    expiryMs: config.registry.serviceExpiryMs,
    remembered: () => registry.rememberedServices(),
    heldBy: (s) => serviceHeldBy(s, { registry, policies, authz }),
    forget: (names) => {
      registry.forgetServices(names);
      log.info(
        { services: names.slice(0, 20), count: names.length },
        'forgot services unused for registry.serviceExpiryMs',
      );
      pusher.schedule();
    },
  });
  return {
    events,
    webhooks,
    policies,
    authz,
    callers: new CallerLog(clock),
    joinCredentials,
    drains,
    health,
    roles,
    failover,
    managedFailover,
    rings,
    pusher,
    registry,
    serviceExpiry,
    stats: new ServiceStats(undefined, clock),
  };
}
