import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Buckets of the TCP connection duration histogram, seconds: 10 ms to the default idle timeout of an hour. */
export const TCP_DURATION_BUCKETS = [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600];

/**
 * The metrics of TCP services, on the agent's registry (see
 * docs/observability.md): `direction` is `outbound` (the caller's agent,
 * a dedicated upstream port) or `inbound` (the callee's agent).
 */
export function createTcpMetrics(registry: Registry) {
  const labelNames = ['direction', 'service'] as const;
  return {
    connections: new Counter({
      name: 'meshlet_agent_tcp_connections_total',
      help: 'TCP connections by how they were opened: ok (relayed), or why not (no_endpoint, no_primary, connect_failed, refused, unknown_service, preamble, mtls_required, wrong_service, authz_denied, fenced, app_unreachable, role_unsupported).',
      labelNames: ['direction', 'service', 'result'] as const,
      registers: [registry],
    }),
    open: new Gauge({
      name: 'meshlet_agent_tcp_connections_open',
      help: 'TCP connections relayed now.',
      labelNames,
      registers: [registry],
    }),
    sent: new Counter({
      name: 'meshlet_agent_tcp_sent_bytes_total',
      help: "Bytes relayed from the connection's client towards the app (outbound: from the local app; inbound: from the calling agent).",
      labelNames,
      registers: [registry],
    }),
    received: new Counter({
      name: 'meshlet_agent_tcp_received_bytes_total',
      help: "Bytes relayed back to the connection's client.",
      labelNames,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'meshlet_agent_tcp_connection_duration_seconds',
      help: 'How long relayed TCP connections lasted, from the answer OK to the close.',
      labelNames,
      buckets: TCP_DURATION_BUCKETS,
      registers: [registry],
    }),
    closes: new Counter({
      name: 'meshlet_agent_tcp_closes_total',
      help: 'Relayed TCP connections closed, by reason: client-closed, upstream-closed, client-error, upstream-error, idle-timeout, fenced, shutdown.',
      labelNames: ['direction', 'service', 'reason'] as const,
      registers: [registry],
    }),
    connectFailures: new Counter({
      name: 'meshlet_agent_tcp_connect_failures_total',
      help: "Outbound TCP connect attempts that failed by the endpoint's fault (refused, timed out, a failed handshake, a callee that could not reach its app), each retried on another endpoint while one is left; the endpoint is in the warning logged.",
      labelNames: ['service', 'code'] as const,
      registers: [registry],
    }),
  };
}

/** The TCP metrics. */
export type TcpMetrics = ReturnType<typeof createTcpMetrics>;
