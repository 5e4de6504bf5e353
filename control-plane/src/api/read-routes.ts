import type { FastifyInstance } from 'fastify';
import type { EventFilter, EventKind, EventLog, MeshEvent } from '../events/event-log.js';
import type { FailoverEngine } from '../failover/failover-engine.js';
import type { HealthEngine, InstanceHealthView } from '../health/health-engine.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { Convergence, Pusher } from '../push/pusher.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';
import type { RingView } from '../rings/ring-publisher.js';

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
  rings: () => RingView[];
  convergences: () => readonly Convergence[];
}

/** The state shown for an agent's instance: the health engine's decision, or why there is none. */
function stateOf(r: AgentRecord, byId: Map<string, InstanceHealthView>): { state: string; reason: string; since: string | null } {
  const view = r.instance ? byId.get(r.instance.id) : undefined;
  if (view && view.agentId === r.agentId) return { state: view.state, reason: view.reason, since: iso(view.since) };
  if (!r.connected) return { state: 'disconnected', reason: r.disconnectReason ?? 'agent disconnected', since: iso(r.disconnectedAt) };
  return { state: 'unknown', reason: 'no health report from the agent yet', since: null };
}

function agentView(r: AgentRecord, pusher: Pusher, byId: Map<string, InstanceHealthView>) {
  const rings = Object.entries(r.rings).map(([service, x]) => ({ service, version: x.version, checksum: x.checksum, agrees: x.agrees ?? null }));
  return {
    agentId: r.agentId,
    connected: r.connected,
    remoteAddress: r.remoteAddress,
    connectedAt: iso(r.connectedAt),
    disconnectedAt: iso(r.disconnectedAt),
    lastSeenAt: iso(r.lastSeenAt),
    instance: r.instance ? { service: r.instance.service, id: r.instance.id, tier: r.instance.tier, ...stateOf(r, byId) } : null,
    subscriptions: r.subscriptions,
    sentVersion: r.sent?.version ?? null,
    /** The version the agent applied: its last ACK. */
    appliedVersion: r.acked?.version ?? null,
    ackedVersion: r.acked?.version ?? null,
    ackedAt: iso(r.acked?.at),
    nack: r.nacked ? { version: r.nacked.version, code: r.nacked.code ?? null, error: r.nacked.error, at: iso(r.nacked.at) } : null,
    /** It applied the last table sent to it, so it holds the current state of every service it calls. */
    inSync: r.connected && r.sent !== undefined && r.acked?.version === r.sent.version,
    rings,
    tableVersion: pusher.version,
  };
}

function eventView(e: MeshEvent) {
  return { ...e, time: iso(e.time) };
}

const EVENT_KINDS = new Set<EventKind>(['health', 'failover', 'drain']);

/** Parses `/v1/events` query parameters; returns an error text naming the parameter on bad input. */
export function eventFilter(q: Record<string, string | undefined>): EventFilter | string {
  const f: EventFilter = {};
  if (q.service !== undefined) f.service = q.service;
  if (q.instance !== undefined) f.instance = q.instance;
  if (q.kind !== undefined) {
    if (!EVENT_KINDS.has(q.kind as EventKind)) return `kind must be one of ${[...EVENT_KINDS].join(', ')}`;
    f.kind = q.kind as EventKind;
  }
  for (const [name, key] of [['after', 'afterSeq'], ['limit', 'limit']] as const) {
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

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/v1/services', async () => {
    const byId = healthById();
    const byService = new Map<string, ReturnType<typeof instanceView>[]>();
    for (const name of registry.serviceNames()) byService.set(name, []);
    for (const r of registry.agents()) {
      if (r.instance) byService.get(r.instance.service)?.push(instanceView(r, byId));
    }
    const tiers = new Map(failover.list().map((f) => [f.service, f]));
    return {
      tableVersion: pusher.version,
      services: [...byService].map(([name, instances]) => {
        const f = tiers.get(name);
        return {
          name,
          healthy: instances.filter((i) => i.state === 'healthy' || i.state === 'suspect' || i.state === 'recovering').length,
          total: instances.length,
          version: pusher.serviceVersion(name) ?? null,
          activeTier: f?.activeTier ?? null,
          failbackAt: iso(f?.failbackAt),
          instances: instances.sort((a, b) => a.id.localeCompare(b.id)),
        };
      }),
    };
  });

  app.get('/v1/agents', async () => {
    const byId = healthById();
    return {
      tableVersion: pusher.version,
      agents: registry
        .agents()
        .sort((a, b) => a.agentId.localeCompare(b.agentId))
        .map((r) => agentView(r, pusher, byId)),
    };
  });

  app.get('/v1/events', async (req, reply) => {
    const f = eventFilter(req.query as Record<string, string | undefined>);
    if (typeof f === 'string') return reply.code(400).send({ error: 'bad query', message: f });
    return { events: events.list(f).map(eventView) };
  });

  app.get('/v1/rings', async () => {
    const agents = registry.agents().filter((r) => r.connected);
    return {
      rings: deps.rings().map((ring) => {
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
        return { ...ring, agents: { agreeing: agreeing.length, disagreeing: disagreeing.sort(), otherVersion: otherVersion.sort() } };
      }),
    };
  });

  app.get('/v1/failover', async () => ({
    services: failover.list().map((f) => ({ ...f, failbackAt: iso(f.failbackAt) })),
  }));

  app.get('/v1/convergence', async () => {
    const recent = deps.convergences();
    const sorted = recent.map((c) => c.durationMs).sort((a, b) => a - b);
    return {
      count: recent.length,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      maxMs: sorted.at(-1) ?? null,
      recent: recent.map((c) => ({ ...c, decidedAt: iso(c.decidedAt), convergedAt: iso(c.convergedAt) })),
    };
  });

  app.get('/metrics', async (_req, reply) => {
    metrics.tableVersion.set(pusher.version);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

function instanceView(r: AgentRecord, byId: Map<string, InstanceHealthView>) {
  const i = r.instance as NonNullable<AgentRecord['instance']>;
  const view = byId.get(i.id);
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
  };
}
