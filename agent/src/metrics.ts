import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets of the request duration histograms, seconds: 1 ms to 10 s. */
export const REQUEST_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Default process metrics left out: gauges with a counter's `_total` suffix. */
const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** What the agent's scrape-time gauges read. */
export interface AgentMetricSources {
  /** Whether the stream to the control plane is open. */
  controlPlaneConnected: () => boolean;
  /** Version of the routing table in force; 0 with none. */
  tableVersion: () => number;
  /** When the agent's workload certificate expires, ms since the epoch; undefined with none. */
  certificateExpiry?: () => number | undefined;
  /** How many coordination requests of the app are open (events streams, long-polls, waits, campaigns). */
  coordinationOpenRequests?: () => number;
  /** The managed failover term this agent holds (undefined: none, or no `instance.failover`). */
  failoverTerm?: () => number | undefined;
}

/**
 * The agent's Prometheus metrics, declared up front in one place and served
 * at the admin listener's `GET /metrics`. The names are an interface: alert
 * rules and dashboards are written against them (see docs/data-plane.md).
 *
 * Per-service series are labelled with the service the client named, except
 * where the state belongs to the service that served it (a route may split
 * traffic to another service): `requests_total` (its endpoints), ejections
 * and circuit-breaker refusals are the serving service's.
 *
 * @param sources - what the scrape-time gauges read
 */
export function createAgentMetrics(sources: AgentMetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshlet_agent_' });
  // prom-client names these gauges `_total`, which promtool's lint (and
  // Prometheus naming) reserves for counters; their per-type siblings
  // (`..._active_handles{type}`, summed) say the same.
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(`meshlet_agent_${name}`);
  /** The services in the table, with their in-flight counts. */
  const liveServices = new Set<{ readonly name: string; readonly active: number }>();
  return {
    registry,
    liveServices,
    requests: new Counter({
      name: 'meshlet_agent_requests_total',
      help: 'Outbound attempts per endpoint (retries count once each), by the class of the answer; error: no answer (connect error, reset, timeout).',
      labelNames: ['service', 'endpoint', 'code_class'] as const,
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'meshlet_agent_request_duration_seconds',
      help: 'Whole outbound request duration as the client sees it, retries and their backoff included.',
      labelNames: ['service'] as const,
      buckets: REQUEST_DURATION_BUCKETS,
      registers: [registry],
    }),
    retries: new Counter({
      name: 'meshlet_agent_retries_total',
      help: 'Outbound retries made (attempts after the first of a request).',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    retryBudgetExhausted: new Counter({
      name: 'meshlet_agent_retry_budget_exhausted_total',
      help: 'Outbound requests that would have been retried but the retry budget had no token left.',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    ejections: new Counter({
      name: 'meshlet_agent_ejections_total',
      help: "Endpoints ejected by this agent's outlier detection.",
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    circuitOpen: new Counter({
      name: 'meshlet_agent_circuit_open_total',
      help: 'Outbound requests refused by the circuit breaker (503 MESHLET_CIRCUIT_OPEN).',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    // Set from the live services at scrape time (see ServiceMetrics), so
    // that a service gone from the table leaves no series behind.
    activeRequests: new Gauge({
      name: 'meshlet_agent_active_requests',
      help: 'Outbound requests in flight.',
      labelNames: ['service'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of liveServices) this.set({ service: s.name }, s.active);
      },
    }),
    grpcCalls: new Counter({
      name: 'meshlet_agent_grpc_calls_total',
      help: 'gRPC calls this agent forwarded (outbound), by service and the grpc-status they ended with (UNKNOWN: none).',
      labelNames: ['service', 'grpc_code'] as const,
      registers: [registry],
    }),
    inboundRequests: new Counter({
      name: 'meshlet_agent_inbound_requests_total',
      help: 'Requests from other agents to the local app, by the class of the answer; error: the app gave none (the agent answered 502 or 504).',
      labelNames: ['code_class'] as const,
      registers: [registry],
    }),
    authzDecisions: new Counter({
      name: 'meshlet_agent_authz_decisions_total',
      help: "Inbound requests by the service's authorization policy's decision: allowed, denied (403 MESHLET_AUTHZ_DENIED), audited (an audit-mode policy would have denied; let through), refused (400 for a target the policy cannot judge, 503 while the policy is not known yet). caller: the caller's service, its SPIFFE id when of another trust domain, or unauthenticated.",
      labelNames: ['caller', 'service', 'decision'] as const,
      registers: [registry],
    }),
    inboundDuration: new Histogram({
      name: 'meshlet_agent_inbound_request_duration_seconds',
      help: 'Duration of requests from other agents to the local app, until the answer ends.',
      buckets: REQUEST_DURATION_BUCKETS,
      registers: [registry],
    }),
    mtlsHandshakes: new Counter({
      name: 'meshlet_agent_mtls_handshakes_total',
      help: 'Mutual TLS handshakes by side (inbound: callers to this agent; outbound: this agent to callees) and result (ok, failed: TLS refused it, refused: the peer identity check did).',
      labelNames: ['side', 'result'] as const,
      registers: [registry],
    }),
    inboundConnections: new Counter({
      name: 'meshlet_agent_inbound_connections_total',
      help: 'Connections accepted by the inbound listener, by transport (mtls, plaintext) and the service mTLS mode in force (strict, permissive, off: the agent holds no identity).',
      labelNames: ['transport', 'mode'] as const,
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'meshlet_agent_connections_refused_total',
      help: 'Connections a listener refused or closed for its limits, by listener (inbound, outbound, upstream:SERVICE, admin) and reason (max_connections, per_address: refused on arrival; request_timeout: headers or request not in within their timeout).',
      labelNames: ['listener', 'reason'] as const,
      registers: [registry],
    }),
    connectionsOpen: new Gauge({
      name: 'meshlet_agent_connections_open',
      help: 'Connections open on each listener (inbound, outbound, upstream:SERVICE, admin), as its connection caps count them.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    mtlsRefusals: new Counter({
      name: 'meshlet_agent_mtls_refusals_total',
      help: 'Inbound callers refused for want of a valid mesh identity, by reason (plaintext: a plaintext request in strict mode; no-certificate: the agent has no certificate yet; and the peer verifier reasons).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    coordinationRequests: new Counter({
      name: 'meshlet_agent_coordination_requests_total',
      help: 'Coordination requests the agent sent the control plane for its app, by op and result (ok, the refusal code, unavailable: no stream, timeout: no answer in time, late-release: a grant after its timeout, released at once).',
      labelNames: ['op', 'result'] as const,
      registers: [registry],
    }),
    coordinationOpenRequests: new Gauge({
      name: 'meshlet_agent_coordination_open_requests',
      help: 'Coordination requests of the app open on the agent (events streams, long-polls, waiting acquires, campaigns); at most 192.',
      registers: [registry],
      collect() {
        this.set(sources.coordinationOpenRequests?.() ?? 0);
      },
    }),
    failoverTerm: new Gauge({
      name: 'meshlet_agent_failover_term',
      help: "The managed failover term this agent holds for its instance (its service's primary, or promoting); 0 when it holds none.",
      registers: [registry],
      collect() {
        this.set(sources.failoverTerm?.() ?? 0);
      },
    }),
    failoverCommands: new Counter({
      name: 'meshlet_agent_failover_commands_total',
      help: 'Managed failover commands run, by command (promote, demote, rejoin) and result (ok, failed).',
      labelNames: ['command', 'result'] as const,
      registers: [registry],
    }),
    controlPlaneConnected: new Gauge({
      name: 'meshlet_agent_control_plane_connected',
      help: '1 while the stream to the control plane is open, else 0.',
      registers: [registry],
      collect() {
        this.set(sources.controlPlaneConnected() ? 1 : 0);
      },
    }),
    tableVersion: new Gauge({
      name: 'meshlet_agent_routing_table_version',
      help: 'Version of the routing table in force (0: none yet).',
      registers: [registry],
      collect() {
        this.set(sources.tableVersion());
      },
    }),
    certificateExpiry: new Gauge({
      name: 'meshlet_agent_certificate_expiry_timestamp_seconds',
      help: "When the agent's workload certificate expires, seconds since the epoch (0: none yet).",
      registers: [registry],
      collect() {
        const expiry = sources.certificateExpiry?.();
        this.set(expiry === undefined ? 0 : Math.floor(expiry / 1000));
      },
    }),
  };
}

/** The agent's metrics. */
export type AgentMetrics = ReturnType<typeof createAgentMetrics>;

/** The class of an answer's status for the `code_class` label, or `error` when no answer came (negative `status`). */
export function codeClass(status: number): CodeClass {
  if (status < 0) return 'error';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}

/** Values of the `code_class` label. */
export const CODE_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'error'] as const;
/** One value of the `code_class` label. */
export type CodeClass = (typeof CODE_CLASSES)[number];
