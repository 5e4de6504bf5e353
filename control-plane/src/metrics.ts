import { Counter, Gauge, Registry } from 'prom-client';

/** The control plane's Prometheus metrics, declared up front in one place. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    connectedAgents: new Gauge({
      name: 'meshlet_cp_connected_agents',
      help: 'Agents with an open stream.',
      registers: [registry],
    }),
    streamMessages: new Counter({
      name: 'meshlet_cp_stream_messages_total',
      help: 'Valid messages received from agents, by type.',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    streamRejected: new Counter({
      name: 'meshlet_cp_stream_rejected_messages_total',
      help: 'Messages from agents that were refused, by error code.',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    tableVersion: new Gauge({
      name: 'meshlet_cp_routing_table_version',
      help: 'Version of the newest routing table.',
      registers: [registry],
    }),
    nacks: new Counter({
      name: 'meshlet_cp_nacks_total',
      help: 'Routing tables refused by agents.',
      registers: [registry],
    }),
  };
}

/** The control plane's metrics. */
export type ControlPlaneMetrics = ReturnType<typeof createMetrics>;
