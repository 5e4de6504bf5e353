import type {} from '@fastify/swagger';
import { Id, type ServicePolicy, ServiceName } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';
import { HEALTHZ_SCHEMA, METRICS_SCHEMA } from './probe-route-schemas.js';
import type { EventFilter, EventKind, EventLog, MeshEvent } from '../events/event-log.js';
import type { FailoverEngine } from '../failover/failover-engine.js';
import type { HealthEngine, InstanceHealthView } from '../health/health-engine.js';
import type { InstanceRoles } from '../health/instance-roles.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { Convergence, Pusher } from '../push/pusher.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';
import type { ClusterView } from '../ha/replication.js';
import type { RingView } from '../rings/ring-publisher.js';
import { routedHealth } from '../health/health-state.js';
import type { ServiceStatsView } from '../stats/service-stats.js';

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** What the read routes need from the control plane. */
export interface ReadRouteDeps {
  registry: Registry;
  pusher: Pusher;
  metrics: ControlPlaneMetrics;
  health: HealthEngine;
  failover: FailoverEngine;
  events: EventLog;
  rings: () => Promise<RingView[]>;
  convergences: () => readonly Convergence[];
  /** The policy in force for a service. */
  policyOf: (service: string) => ServicePolicy;
  /** What the service's callers saw lately, if they reported on it. */
  statsOf: (service: string) => ServiceStatsView | undefined;
  /** This replica's place among the replicas. */
  cluster: () => ClusterView;
  /** The roles and offsets the instances' checks report; absent: shown as null. */
  roles?: InstanceRoles;
}

const NameParams = Type.Object({ name: ServiceName }, { additionalProperties: false });
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

/** The state shown for an agent's instance: the health engine's decision, or why there is none. */
function stateOf(
  r: AgentRecord,
  byId: Map<string, InstanceHealthView>,
): { state: string; reason: string; since: string | null } {
  const view = r.instance ? byId.get(r.instance.id) : undefined;
  if (view && view.agentId === r.agentId) return { state: view.state, reason: view.reason, since: iso(view.since) };
  if (!r.connected)
    return { state: 'disconnected', reason: r.disconnectReason ?? 'agent disconnected', since: iso(r.disconnectedAt) };
  return { state: 'unknown', reason: 'no health report from the agent yet', since: null };
}

function agentView(r: AgentRecord, pusher: Pusher, byId: Map<string, InstanceHealthView>) {
  const rings = Object.entries(r.rings).map(([service, x]) => ({
    service,
    version: x.version,
    checksum: x.checksum,
    agrees: x.agrees ?? null,
  }));
  return {
    agentId: r.agentId,
    connected: r.connected,
    /** The control-plane replica it is connected to, when it is another one (its ACK state is known there). */
    replica: r.replica?.id ?? null,
    remoteAddress: r.remoteAddress,
    connectedAt: iso(r.connectedAt),
    disconnectedAt: iso(r.disconnectedAt),
    lastSeenAt: iso(r.lastSeenAt),
    instance: r.instance
      ? { service: r.instance.service, id: r.instance.id, tier: r.instance.tier, ...stateOf(r, byId) }
      : null,
    subscriptions: r.subscriptions,
    sentVersion: r.sent?.version ?? null,
    /** The version the agent applied: its last ACK. */
    appliedVersion: r.acked?.version ?? null,
    ackedVersion: r.acked?.version ?? null,
    ackedAt: iso(r.acked?.at),
    nack: r.nacked
      ? { version: r.nacked.version, code: r.nacked.code ?? null, error: r.nacked.error, at: iso(r.nacked.at) }
      : null,
    /** It applied the last table sent to it, so it holds the current state of every service it calls. */
    inSync: r.connected && r.sent !== undefined && r.acked?.version === r.sent.version,
    rings,
    /** The workload certificate this replica last issued to it. */
    certificate: r.certificate
      ? {
          spiffeId: r.certificate.spiffeId,
          serialNumber: r.certificate.serialNumber,
          notAfter: iso(r.certificate.notAfter),
        }
      : null,
    tableVersion: pusher.version,
  };
}

function eventView(e: MeshEvent) {
  return { ...e, time: iso(e.time) };
}

const EVENT_KINDS = new Set<EventKind>(['health', 'failover', 'drain', 'coordination', 'sharding', 'primary']);

/** Parses `/v1/events` query parameters; returns an error text naming the parameter on bad input. */
export function eventFilter(q: Record<string, string | undefined>): EventFilter | string {
  const f: EventFilter = {};
  if (q.service !== undefined) f.service = q.service;
  if (q.instance !== undefined) f.instance = q.instance;
  if (q.kind !== undefined) {
    if (!EVENT_KINDS.has(q.kind as EventKind)) return `kind must be one of ${[...EVENT_KINDS].join(', ')}`;
    f.kind = q.kind as EventKind;
  }
  for (const [name, key] of [
    ['after', 'afterSeq'],
    ['limit', 'limit'],
  ] as const) {
    const v = q[name];
    if (v === undefined) continue;
    const n = Number(v);
    if (!/^\d{1,15}$/.test(v) || !Number.isSafeInteger(n)) return `${name} must be a non-negative integer`;
    f[key] = n;
  }
  return f;
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/**
 * Read-only admin routes: `/v1/services`, `/v1/agents`, `/v1/events`,
 * `/v1/rings`, `/v1/failover`, `/v1/convergence`, `/healthz`, `/metrics`.
 */
export function registerReadRoutes(app: FastifyInstance, deps: ReadRouteDeps): void {
  const { registry, pusher, metrics, health, failover, events } = deps;
  const healthById = () => new Map(health.list().map((v) => [v.id, v]));

  app.get('/healthz', { schema: HEALTHZ_SCHEMA }, async () => ({ status: 'ok' }));

  app.get(
    '/v1/cluster',
    { schema: { tags: ['cluster'], summary: "This replica's role (leader, follower or standalone) and who leads" } },
    async () => {
      const c = deps.cluster();
      return { ...c, since: iso(c.since) };
    },
  );

  const services = () => {
    const byId = healthById();
    const byService = new Map<string, ReturnType<typeof instanceView>[]>();
    for (const name of registry.serviceNames()) byService.set(name, []);
    for (const r of registry.agents()) {
      if (r.instance) byService.get(r.instance.service)?.push(instanceView(r, byId, deps.roles));
    }
    const tiers = new Map(failover.list().map((f) => [f.service, f]));
    return [...byService].map(([name, instances]) => {
      const f = tiers.get(name);
      return {
        name,
        healthy: instances.filter((i) => i.state === 'healthy' || i.state === 'suspect' || i.state === 'recovering')
          .length,
        total: instances.length,
        version: pusher.serviceVersion(name) ?? null,
        activeTier: f?.activeTier ?? null,
        failbackAt: iso(f?.failbackAt),
        stats: deps.statsOf(name) ?? null,
        instances: instances.sort((a, b) => a.id.localeCompare(b.id)),
      };
    });
  };

  app.get(
    '/v1/services',
    { schema: { tags: ['services'], summary: 'Every service with its instances and their health' } },
    async () => ({
      tableVersion: pusher.version,
      services: services(),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/v1/services/:name',
    {
      schema: {
        tags: ['services'],
        summary: 'One service: instances, serving tier, ring and policy',
        params: NameParams,
      },
    },
    async (req, reply) => {
      const s = services().find((x) => x.name === req.params.name);
      if (!s) return sendError(reply, ApiErrors.NOT_FOUND(`no service "${req.params.name}"; see GET /v1/services`));
      const ring = (await deps.rings()).find((r) => r.service === s.name) ?? null;
      return { ...s, policy: deps.policyOf(s.name), ring };
    },
  );

  app.get(
    '/v1/instances',
    { schema: { tags: ['instances'], summary: 'Every instance with its health state, reason and evidence' } },
    async () => {
      const byId = healthById();
      return {
        items: registry
          .agents()
          .filter((r) => r.instance)
          .map((r) => ({ ...instanceView(r, byId, deps.roles), service: r.instance?.service as string }))
          .sort((a, b) => a.id.localeCompare(b.id)),
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/instances/:id',
    { schema: { tags: ['instances'], summary: 'One instance', params: IdParams } },
    async (req, reply) => {
      const byId = healthById();
      const matching = registry.agents().filter((r) => r.instance?.id === req.params.id);
      // The connected record wins over one left by an earlier connection.
      const r = matching.find((x) => x.connected) ?? matching[0];
      if (!r) return sendError(reply, ApiErrors.NOT_FOUND(`no instance "${req.params.id}"; see GET /v1/instances`));
      return { ...instanceView(r, byId, deps.roles), service: r.instance?.service as string };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/agents/:id',
    {
      schema: {
        tags: ['agents'],
        summary: 'One agent: applied version, subscriptions, ring checksums',
        params: IdParams,
      },
    },
    async (req, reply) => {
      const r = registry.agents().find((x) => x.agentId === req.params.id);
      if (!r) return sendError(reply, ApiErrors.NOT_FOUND(`no agent "${req.params.id}"; see GET /v1/agents`));
      return agentView(r, pusher, healthById());
    },
  );

  app.get(
    '/v1/agents',
    { schema: { tags: ['agents'], summary: 'Every agent: connection, applied version, NACKs, ring checksums' } },
    async () => {
      const byId = healthById();
      return {
        tableVersion: pusher.version,
        agents: registry
          .agents()
          .sort((a, b) => a.agentId.localeCompare(b.agentId))
          .map((r) => agentView(r, pusher, byId)),
      };
    },
  );

  app.get(
    '/v1/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Health and failover decisions; filters: service, instance, kind, after (seq), limit',
      },
    },
    async (req, reply) => {
      const f = eventFilter(req.query as Record<string, string | undefined>);
      if (typeof f === 'string') return sendError(reply, ApiErrors.API_INVALID(f));
      return { events: events.list(f).map(eventView) };
    },
  );

  app.get(
    '/v1/rings',
    { schema: { tags: ['rings'], summary: 'Published rings with their checksums, and the agents that agree or not' } },
    async () => {
      const published = await deps.rings();
      const agents = registry.agents().filter((r) => r.connected);
      return {
        rings: published.map((ring) => {
          const agreeing: string[] = [];
          const disagreeing: string[] = [];
          const otherVersion: string[] = [];
          for (const r of agents) {
            const x = r.rings[ring.service];
            if (!x) continue;
            if (x.version !== ring.version) otherVersion.push(r.agentId);
            else if (x.agrees) agreeing.push(r.agentId);
            else disagreeing.push(r.agentId);
          }
          return {
            ...ring,
            agents: { agreeing: agreeing.length, disagreeing: disagreeing.sort(), otherVersion: otherVersion.sort() },
          };
        }),
      };
    },
  );

  app.get(
    '/v1/failover',
    { schema: { tags: ['services'], summary: 'The serving tier of every multi-tier service' } },
    async () => ({
      services: failover.list().map((f) => ({ ...f, failbackAt: iso(f.failbackAt) })),
    }),
  );

  app.get(
    '/v1/convergence',
    { schema: { tags: ['agents'], summary: 'How long recent changes took to reach every affected agent' } },
    async () => {
      const recent = deps.convergences();
      const sorted = recent.map((c) => c.durationMs).sort((a, b) => a - b);
      return {
        count: recent.length,
        p50Ms: quantile(sorted, 0.5),
        p99Ms: quantile(sorted, 0.99),
        maxMs: sorted.at(-1) ?? null,
        recent: recent.map((c) => ({ ...c, decidedAt: iso(c.decidedAt), convergedAt: iso(c.convergedAt) })),
      };
    },
  );

  app.get('/metrics', { schema: METRICS_SCHEMA }, async (_req, reply) => {
    metrics.tableVersion.set(pusher.version);
    // Health gauges are read from the engine at scrape time: no series is left behind by an instance that is gone.
    metrics.instanceHealthy.reset();
    metrics.serviceHealthyEndpoints.reset();
    metrics.serviceEndpoints.reset();
    const perService = new Map<string, { healthy: number; total: number }>();
    for (const name of registry.serviceNames()) perService.set(name, { healthy: 0, total: 0 });
    for (const v of health.list()) {
      const routed = routedHealth(v.state) === undefined;
      metrics.instanceHealthy.set({ service: v.service, instance: v.id }, routed ? 1 : 0);
      const s = perService.get(v.service) ?? { healthy: 0, total: 0 };
      s.total++;
      if (routed) s.healthy++;
      perService.set(v.service, s);
    }
    for (const [service, s] of perService) {
      metrics.serviceHealthyEndpoints.set({ service }, s.healthy);
      metrics.serviceEndpoints.set({ service }, s.total);
    }
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

function instanceView(r: AgentRecord, byId: Map<string, InstanceHealthView>, roles?: InstanceRoles) {
  const i = r.instance as NonNullable<AgentRecord['instance']>;
  const view = byId.get(i.id);
  const reported = roles?.get(i.service, i.id);
  return {
    id: i.id,
    agentId: r.agentId,
    host: i.host,
    port: i.port,
    zone: i.zone ?? null,
    tier: i.tier,
    weight: i.weight,
    labels: i.labels,
    ...stateOf(r, byId),
    evidence: view && view.agentId === r.agentId ? view.evidence : null,
    heldUntil: iso(view && view.agentId === r.agentId ? view.heldUntil : undefined),
    callers: view && view.agentId === r.agentId ? view.callers : [],
    /** What its check reports: `primary`, `replica`, or null (none); and the replication offset in bytes. */
    role: reported?.role ?? null,
    replicationOffset: reported?.replicationOffset ?? null,
  };
}
