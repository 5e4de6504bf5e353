import { type Static, Type } from '@sinclair/typebox';
import { InstanceRole } from '../protocol/failover.js';
import { Id, Port, ServiceName } from '../protocol/messages.js';
import { LogConfig } from './common.js';
import { connectionLimitsSchema } from './connection-limits.js';

/** Caps of the listeners the local app calls (outbound, dedicated upstream ports): one source, the app. */
const LOCAL_CAPS = { maxConnections: 4096, maxConnectionsPerAddress: 4096 };
import { TableBudgetConfig } from './table-budget-config.js';

/** A command the agent runs (argv, no shell), with a deadline; its exit status 0 is success. */
export const CommandConfig = Type.Object(
  {
    command: Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), {
      minItems: 1,
      maxItems: 64,
      fix: 'give the program and its arguments as a list, such as [pg_ctl, promote, -D, /var/lib/postgresql/15/main]',
    }),
    timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  },
  { additionalProperties: false },
);
/** {@inheritDoc CommandConfig} */
export type CommandConfig = Static<typeof CommandConfig>;

/**
 * The agent's active check of its local app. Every kind reports health; the
 * database kinds (and `exec`, and HTTP role paths) report a role too, and the
 * database kinds a replication offset.
 */
export const HealthCheckConfig = Type.Object(
  {
    /**
     * `http`: `GET path`, any 2xx (or one of `expectStatus`) passes. `grpc`: `grpc.health.v1.Health/Check` over
     * h2c, `SERVING` passes. `tcp`: a connection to the app's port opens. `exec`: `command` exits 0 (its first
     * word on stdout, `primary` or `replica`, is the role). `postgres`: connects and asks `pg_is_in_recovery()`.
     * `redis`: `ROLE`.
     */
    kind: Type.Union(
      [
        Type.Literal('http'),
        Type.Literal('grpc'),
        Type.Literal('tcp'),
        Type.Literal('exec'),
        Type.Literal('postgres'),
        Type.Literal('redis'),
      ],
      { default: 'http', fix: 'use one of http, grpc, tcp, exec, postgres, redis' },
    ),
    path: Type.String({ minLength: 1, pattern: '^/', default: '/healthz' }),
    /** `http`: the statuses that pass; absent: any 2xx. */
    expectStatus: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, maxItems: 50, uniqueItems: true }),
    ),
    /**
     * `http`, Patroni style: the role is `primary` while `primary` passes, else `replica` while `replica` passes;
     * neither: unhealthy. With role paths, `path` is not asked.
     */
    rolePaths: Type.Optional(
      Type.Object(
        {
          primary: Type.String({ minLength: 1, pattern: '^/' }),
          replica: Type.Optional(Type.String({ minLength: 1, pattern: '^/' })),
        },
        { additionalProperties: false },
      ),
    ),
    /** The `service` asked with `kind: grpc` ("" = the server as a whole, as the protocol defines). */
    service: Type.String({ maxLength: 253, pattern: '^[A-Za-z0-9._/-]*$', default: '' }),
    /** `exec`: the program and its arguments (no shell). */
    command: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 64 })),
    /** `postgres`: the user and database the check connects as (to the app's host and port). */
    user: Type.String({ minLength: 1, maxLength: 63, default: 'postgres' }),
    database: Type.String({ minLength: 1, maxLength: 63, default: 'postgres' }),
    /** `postgres`, `redis`: the environment variable holding the password (never the password itself in a file); absent: none. */
    passwordEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 128 })),
    intervalMs: Type.Integer({ minimum: 50, maximum: 600_000, default: 1000 }),
    timeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 500 }),
    healthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    unhealthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
  },
  { default: {}, additionalProperties: false },
);

/**
 * This instance's part in its service's managed failover (`policy.failover.mode: managed`): the agent campaigns
 * for it and runs these commands. Local to the instance's host: the control plane never sends a command to run.
 */
export const InstanceFailoverConfig = Type.Object(
  {
    /** Among standbys equally caught up, the higher wins; 0: never promoted automatically (Patroni's `failover_priority`). */
    priority: Type.Integer({ minimum: 0, maximum: 1000, default: 1 }),
    /** Makes this instance the primary (`pg_ctl promote`, `SELECT pg_promote()`, `REPLICAOF NO ONE`). */
    promote: CommandConfig,
    /** Run when this instance stops being the primary while it is up (a lost lease, a switchover): stops it taking writes. */
    demote: Type.Optional(CommandConfig),
    /** Run when this instance, a former primary, finds a newer term's primary: makes it follow (pg_rewind and restart as a standby, `REPLICAOF`). */
    rejoin: Type.Optional(CommandConfig),
  },
  { additionalProperties: false },
);
/** {@inheritDoc InstanceFailoverConfig} */
export type InstanceFailoverConfig = Static<typeof InstanceFailoverConfig>;

/** The service instance this agent fronts. Absent for a client-only agent. */
export const InstanceConfig = Type.Object(
  {
    service: ServiceName,
    /** Defaults to the agent id. */
    id: Type.Optional(Id),
    zone: Type.Optional(Type.String({ maxLength: 63 })),
    tier: Type.Integer({ minimum: 0, maximum: 15, default: 0 }),
    weight: Type.Integer({ minimum: 1, maximum: 10000, default: 1 }),
    labels: Type.Record(Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }), Type.String({ maxLength: 253 }), {
      default: {},
      additionalProperties: false,
    }),
    app: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1' }),
        port: Port,
      },
      { additionalProperties: false },
    ),
    healthCheck: HealthCheckConfig,
    /** Present: this instance takes part in its service's managed failover (see {@link InstanceFailoverConfig}). */
    failover: Type.Optional(InstanceFailoverConfig),
  },
  { additionalProperties: false },
);

/** Agent configuration: YAML file, then `MESHLET_*` variables, then flags. */
export const AgentConfig = Type.Object(
  {
    agentId: Id,
    instance: Type.Optional(InstanceConfig),
    /**
     * The service a client-only agent (no `instance`) acts for: it names it in
     * its hello, and its join credential must be for it. With an instance,
     * absent or `instance.service`.
     */
    service: Type.Optional(ServiceName),
    /** The zone of this agent's callers, for zone-aware routing; defaults to `instance.zone`. */
    zone: Type.Optional(Type.String({ maxLength: 63 })),
    /**
     * Services this agent calls. The control plane sends the agent only these
     * (plus any it learns from requests). With a `port`, the service also gets
     * a dedicated local port (Consul Connect style): the app calls
     * `http://127.0.0.1:PORT/...` and reaches the service without naming it.
     */
    upstreams: Type.Array(
      Type.Object(
        {
          service: ServiceName,
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          host: Type.String({ minLength: 1, default: '127.0.0.1' }),
          /**
           * Only endpoints whose check reports this role (for a managed service, `primary` is the current term's
           * primary alone); absent: any. A `tcp` service's port carries bytes; others HTTP.
           */
          role: Type.Optional(InstanceRole),
          /** This port's own limits; the defaults are the outbound listener's. */
          limits: connectionLimitsSchema(LOCAL_CAPS),
        },
        { additionalProperties: false },
      ),
      { default: [], maxItems: 1000 },
    ),
    listeners: Type.Object(
      {
        outbound: Type.Object(
          {
            enabled: Type.Boolean({ default: true }),
            host: Type.String({ minLength: 1, default: '127.0.0.1' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 15001 }),
            limits: connectionLimitsSchema(LOCAL_CAPS),
          },
          { default: {}, additionalProperties: false },
        ),
        inbound: Type.Object(
          {
            host: Type.String({ minLength: 1, default: '0.0.0.0' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 15006 }),
            /** Address other agents use to reach this one; derived from `host` when absent. */
            advertiseHost: Type.Optional(Type.String({ minLength: 1 })),
            /**
             * Other agents call from their own hosts: one address holds at most a caller agent's pooled
             * connections. IPv6 callers count per address (/128): they are mesh agents, proven by mTLS, and
             * the pods of one Kubernetes node (or a whole EKS subnet) share one /64.
             */
            limits: connectionLimitsSchema({
              maxConnections: 4096,
              maxConnectionsPerAddress: 512,
              ipv6PrefixLength: 128,
            }),
          },
          { default: {}, additionalProperties: false },
        ),
        admin: Type.Object(
          {
            host: Type.String({ minLength: 1, default: '127.0.0.1' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 15000 }),
            limits: connectionLimitsSchema({
              maxConnections: 256,
              maxConnectionsPerAddress: 256,
              idleTimeoutMs: 72_000,
            }),
            /** Host names the admin listener answers to besides IP addresses and `localhost` (DNS rebinding protection). File only. */
            allowedHosts: Type.Array(
              Type.String({
                minLength: 1,
                maxLength: 253,
                pattern: '^[A-Za-z0-9._-]+$',
                fix: 'use a host name such as orders-1.internal, without a port or scheme',
              }),
              { default: [], maxItems: 100 },
            ),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    controlPlane: Type.Object(
      {
        /**
         * The control plane's stream. No schema default: the agent falls back
         * to `ws://127.0.0.1:15010/v1/stream` only when neither `url` nor
         * `urls` is set, so that setting both can be refused.
         */
        url: Type.Optional(Type.String({ pattern: '^wss?://' })),
        /**
         * Several control-plane replicas, instead of `url`: the agent starts
         * at a random one and moves to the next in the list whenever its
         * stream closes or fails to open. File only (an array).
         */
        urls: Type.Optional(Type.Array(Type.String({ pattern: '^wss?://' }), { minItems: 1, maxItems: 16 })),
        joinToken: Type.Optional(Type.String({ minLength: 1 })),
        /**
         * PEM CA certificate(s) trusted for a `wss://` URL instead of the
         * default trust store: for a control plane whose certificate a private
         * CA signed.
         */
        caFile: Type.Optional(Type.String({ minLength: 1 })),
        /**
         * Send the join credential over `ws://` to a control plane that is
         * not on loopback (insecure: anyone on the path reads it). Off: such
         * a URL is refused at start; use `wss://`.
         */
        allowPlaintextRemote: Type.Boolean({ default: false }),
        heartbeatIntervalMs: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
        reconnectInitialDelayMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 200 }),
        reconnectMaxDelayMs: Type.Integer({ minimum: 10, maximum: 600_000, default: 5000 }),
        maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024, default: 16 * 1024 * 1024 }),
        /**
         * How long a request for a service not yet in the table waits, after
         * the agent subscribes to that service, for a table that has it; then
         * it gets the unknown-service 404. 0: subscribe, but do not wait.
         */
        subscribeWaitMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
        /** How often the agent reports what it saw of the endpoints it called (when it called any). */
        observationIntervalMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * Where the outbound listener sends a request, upgrade or CONNECT naming a
     * host that is not a mesh service (Istio's `outboundTrafficPolicy.mode`):
     * `registry-only` answers 404 `MESHLET_UNKNOWN_SERVICE`; `allow-any`
     * passes it through to that host (never to the agent's own listeners or
     * the control plane). See docs/data-plane.md, "CONNECT and the outbound traffic policy".
     */
    outboundTrafficPolicy: Type.Object(
      {
        mode: Type.Union([Type.Literal('registry-only'), Type.Literal('allow-any')], { default: 'registry-only' }),
      },
      { default: {}, additionalProperties: false },
    ),
    proxy: Type.Object(
      {
        connectTimeoutMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
        requestTimeoutMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 15_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    /** One JSON line per outbound request (logger component `access`, level info): ids, status, timing, never header values. */
    accessLog: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
      },
      { default: {}, additionalProperties: false },
    ),
    tableBudget: TableBudgetConfig,
    dataDir: Type.String({ minLength: 1, default: './data/agent' }),
    log: LogConfig,
  },
  { additionalProperties: false },
);
/** {@inheritDoc AgentConfig} */
export type AgentConfig = Static<typeof AgentConfig>;
