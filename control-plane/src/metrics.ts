import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The control plane's Prometheus metrics, declared up front in one place. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    connectionsRefused: new Counter({
      name: 'meshlet_cp_connections_refused_total',
      help: 'Connections the API and stream listener refused or closed for its limits, by listener (api) and reason (max_connections, per_address: refused on arrival; request_timeout: headers or request not in within their timeout).',
      labelNames: ['listener', 'reason'] as const,
      registers: [registry],
    }),
    connectionsOpen: new Gauge({
      name: 'meshlet_cp_connections_open',
      help: 'Connections open on the API and stream listener (listener api), as its connection caps count them.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
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
    joinRefusals: new Counter({
      name: 'meshlet_cp_join_refusals_total',
      help: 'Agent hellos refused, and joined agents sent away, for their join credential or token, by reason (missing, shared_token_mismatch, malformed, unknown, expired, revoked, wrong_service, wrong_instance, no_service, instance_held, credential_mismatch).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    streamUpgradesRefused: new Counter({
      name: 'meshlet_cp_stream_upgrades_refused_total',
      help: 'Stream upgrades (/v1/stream) refused before any message, by reason (wrong_credential, throttled, address_limit, total_limit).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    unauthenticatedStreams: new Gauge({
      name: 'meshlet_cp_unauthenticated_streams',
      help: 'Agent streams open now that have not authenticated yet (no credential or client certificate at the upgrade, no hello yet).',
      registers: [registry],
    }),
    streamAdmissions: new Counter({
      name: 'meshlet_cp_stream_admissions_total',
      help: 'Agent hellos admitted, by how the agent authenticated (certificate: its workload certificate on a wss stream; credential: a per-service join credential; shared_token: auth.joinToken; open: nothing).',
      labelNames: ['auth'] as const,
      registers: [registry],
    }),
    streamCertificatesIgnored: new Counter({
      name: 'meshlet_cp_stream_client_certificates_ignored_total',
      help: 'Client certificates presented on the stream that did not authenticate the agent (its join credential decided instead), by reason (untrusted, expired, not-yet-valid, not-spiffe, wrong-trust-domain, malformed, no-instance).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    registrationRefusals: new Counter({
      name: 'meshlet_cp_registration_refusals_total',
      help: 'Agent registrations refused for what they registered, by reason (address_mismatch, address_not_ip).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    reportsRefused: new Counter({
      name: 'meshlet_cp_reports_refused_total',
      help: 'Agent reports refused, by type (observations, health) and reason (rate_limited; not_sent: one per endpoint the agent was never sent).',
      labelNames: ['type', 'reason'] as const,
      registers: [registry],
    }),
    callersMerged: new Counter({
      name: 'meshlet_cp_callers_merged_total',
      help: 'Accepted observation reports of agents sharing one credential (one caller in the health quorum) that look like one process posing as several: from one address (same_address), or client-only (no_instance).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    certificatesIssued: new Counter({
      name: 'meshlet_cp_certificates_issued_total',
      help: 'Workload certificates signed for agents.',
      registers: [registry],
    }),
    certificatesRefused: new Counter({
      name: 'meshlet_cp_certificates_refused_total',
      help: 'Certificate signing requests refused, by reason (invalid, forbidden, no_identity, busy, too_soon, throttled, duplicate, ca_error).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    agentCertificateExpiry: new Gauge({
      name: 'meshlet_cp_agent_certificate_expiry_timestamp_seconds',
      help: 'When the workload certificate last issued to each connected agent expires, seconds since the epoch.',
      labelNames: ['agent'] as const,
      registers: [registry],
    }),
    issuerExpiry: new Gauge({
      name: 'meshlet_cp_issuer_expiry_timestamp_seconds',
      help: "When the CA's issuer certificate expires (no leaf outlives it), seconds since the epoch.",
      registers: [registry],
    }),
    rootExpiry: new Gauge({
      name: 'meshlet_cp_root_expiry_timestamp_seconds',
      help: "When the first of the CA's roots (the agents' trust bundle) expires, seconds since the epoch.",
      registers: [registry],
    }),
    caTrustGeneration: new Gauge({
      name: 'meshlet_cp_ca_trust_generation',
      help: 'The generation of the trust bundle the control plane sends agents (grows with each step of a root rotation).',
      registers: [registry],
    }),
    caRotationStep: new Gauge({
      name: 'meshlet_cp_ca_rotation_step',
      help: 'The step a root rotation is at (1 on the current step; done when none is under way).',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    caRotationStepStarted: new Gauge({
      name: 'meshlet_cp_ca_rotation_step_started_timestamp_seconds',
      help: 'When the current step of a root rotation began, seconds since the epoch (0 before any rotation).',
      registers: [registry],
    }),
    caRotationAgentsBehind: new Gauge({
      name: 'meshlet_cp_ca_rotation_agents_behind',
      help: 'Connected agents the current step of a root rotation waits for (on the leading replica; 0 when none is under way).',
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'meshlet_cp_leader',
      help: 'Whether this replica decides: 1 on the leader replica and on a single control plane, 0 on a follower.',
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
    tableMessages: new Counter({
      name: 'meshlet_cp_table_messages_total',
      help: 'Routing tables sent to agents, full or delta.',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    convergence: new Histogram({
      name: 'meshlet_cp_convergence_seconds',
      help: 'Time from a change being decided to the last affected agent answering the table that carries it.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    healthTransitions: new Counter({
      name: 'meshlet_cp_health_transitions_total',
      help: 'Instance health transitions, by the state entered.',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
    instanceHealthy: new Gauge({
      name: 'meshlet_cp_instance_healthy',
      help: 'Whether callers route to the instance (healthy, suspect or recovering: 1; unhealthy or draining: 0).',
      labelNames: ['service', 'instance'] as const,
      registers: [registry],
    }),
    serviceHealthyEndpoints: new Gauge({
      name: 'meshlet_cp_service_healthy_endpoints',
      help: 'Instances of the service that callers route to.',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    serviceEndpoints: new Gauge({
      name: 'meshlet_cp_service_endpoints',
      help: 'Instances of the service with a decided state, routed or not.',
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    failovers: new Counter({
      name: 'meshlet_cp_failovers_total',
      help: "Changes of a service's serving tier.",
      labelNames: ['service'] as const,
      registers: [registry],
    }),
    authzInvalidPolicies: new Gauge({
      name: 'meshlet_cp_authz_invalid_policies',
      help: 'Stored authorization policies that no longer validate, each shipped as deny-all until rewritten or deleted.',
      registers: [registry],
    }),
    coordinationRequests: new Counter({
      name: 'meshlet_cp_coordination_requests_total',
      help: "Agents' lock and election requests (coord messages), by op (acquire, renew, release, get, watch, unwatch) and result (ok, or the error code).",
      labelNames: ['op', 'result'] as const,
      registers: [registry],
    }),
    locksHeld: new Gauge({
      name: 'meshlet_cp_locks_held',
      help: 'Application locks and elections held now, as this control plane sees the store, by kind (lock, election).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    coordinationReleases: new Counter({
      name: 'meshlet_cp_coordination_releases_total',
      help: 'Locks and elections that lost their holder, as this control plane saw it, by kind and reason (released, expired, unhealthy, disconnected, forced).',
      labelNames: ['kind', 'reason'] as const,
      registers: [registry],
    }),
  };
}

/** The control plane's metrics. */
export type ControlPlaneMetrics = ReturnType<typeof createMetrics>;
