import type { FastifyInstance } from 'fastify';
import { type AgentRecord, instanceState } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';
import type { Pusher } from '../push/pusher.js';
import type { ControlPlaneMetrics } from '../metrics.js';

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function agentView(r: AgentRecord, tableVersion: number) {
  const { state, reason } = instanceState(r);
  return {
    agentId: r.agentId,
    connected: r.connected,
    remoteAddress: r.remoteAddress,
    connectedAt: iso(r.connectedAt),
    disconnectedAt: iso(r.disconnectedAt),
    lastSeenAt: iso(r.lastSeenAt),
    instance: r.instance ? { service: r.instance.service, id: r.instance.id, state, reason } : null,
    sentVersion: r.sent?.version ?? null,
    ackedVersion: r.acked?.version ?? null,
    ackedAt: iso(r.acked?.at),
    nack: r.nacked ? { version: r.nacked.version, error: r.nacked.error, at: iso(r.nacked.at) } : null,
    inSync: r.connected && r.acked?.version === tableVersion,
  };
}

/** Read-only admin routes: `/v1/services`, `/v1/agents`, `/healthz`, `/metrics`. */
export function registerReadRoutes(
  app: FastifyInstance,
  deps: { registry: Registry; pusher: Pusher; metrics: ControlPlaneMetrics },
): void {
  const { registry, pusher, metrics } = deps;

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/v1/services', async () => {
    const byService = new Map<string, ReturnType<typeof instanceView>[]>();
    for (const name of registry.serviceNames()) byService.set(name, []);
    for (const r of registry.agents()) {
      if (r.instance) byService.get(r.instance.service)?.push(instanceView(r));
    }
    return {
      tableVersion: pusher.version,
      services: [...byService].map(([name, instances]) => ({
        name,
        healthy: instances.filter((i) => i.state === 'healthy').length,
        total: instances.length,
        instances: instances.sort((a, b) => a.id.localeCompare(b.id)),
      })),
    };
  });

  app.get('/v1/agents', async () => {
    const version = pusher.version;
    return {
      tableVersion: version,
      agents: registry
        .agents()
        .sort((a, b) => a.agentId.localeCompare(b.agentId))
        .map((r) => agentView(r, version)),
    };
  });

  app.get('/metrics', async (_req, reply) => {
    metrics.tableVersion.set(pusher.version);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

function instanceView(r: AgentRecord) {
  const i = r.instance as NonNullable<AgentRecord['instance']>;
  const { state, reason } = instanceState(r);
  return {
    id: i.id,
    agentId: r.agentId,
    host: i.host,
    port: i.port,
    zone: i.zone ?? null,
    tier: i.tier,
    weight: i.weight,
    labels: i.labels,
    state,
    reason,
  };
}
