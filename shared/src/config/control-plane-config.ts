import { type Static, Type } from '@sinclair/typebox';
import { DEFAULT_TRUST_DOMAIN, TRUST_DOMAIN_RULE } from '../identity/spiffe-id.js';
import { ServiceName } from '../protocol/messages.js';
import { AuthzPolicy } from '../protocol/authz-policy.js';
import { ServicePolicy } from '../protocol/policy.js';
import { LogConfig, listenerSchema } from './common.js';
import { TableBudgetConfig } from './table-budget-config.js';

/** Control-plane configuration: YAML file, then `MESHLET_*` variables, then flags. */
export const ControlPlaneConfig = Type.Object(
  {
    /** The admin API and the agents' stream; `limits.maxConnectionsPerAddress` counts every agent behind one NAT. */
    listen: listenerSchema('127.0.0.1', 15010, {
      maxConnections: 16_384,
      maxConnectionsPerAddress: 1_024,
      idleTimeoutMs: 72_000,
    }),
    dataDir: Type.String({ minLength: 1, default: './data/control-plane' }),
    /**
     * Where configuration, policies and drains are kept: the embedded file
     * store under `dataDir` (one control plane), or etcd, which several
     * replicas share.
     */
    store: Type.Object(
      {
        kind: Type.Union([Type.Literal('file'), Type.Literal('etcd')], { default: 'file' }),
        etcd: Type.Object(
          {
            /** Client URLs of the etcd members, such as `http://10.0.0.1:2379`; required with `kind: etcd`. File only. */
            endpoints: Type.Array(
              Type.String({
                pattern: '^https?://[^\\s/]+',
                maxLength: 2048,
                fix: 'use an http:// or https:// URL such as http://10.0.0.1:2379',
              }),
              {
                default: [],
                maxItems: 16,
                uniqueItems: true,
              },
            ),
            /** Every key of this control plane lives under it, so several meshlet clusters can share one etcd. */
            prefix: Type.String({
              minLength: 1,
              pattern: '^/',
              default: '/meshlet/',
              fix: 'use a key prefix starting with "/", such as /meshlet/',
            }),
            /** A write etcd cannot commit (quorum lost) fails after this long, and the admin API answers 503. */
            requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 3000 }),
            /**
             * TTL of the replica's etcd leases (its leader campaign and its
             * agents' registrations): a replica that dies is replaced as leader,
             * and its registrations expire, this long after its last keep-alive.
             */
            leaseTtlSeconds: Type.Integer({ minimum: 2, maximum: 60, default: 2 }),
            /** This replica's name among the replicas; default `<hostname>:<port>`. */
            replicaId: Type.String({
              maxLength: 128,
              pattern: '^[A-Za-z0-9._:@-]*$',
              default: '',
              fix: 'use letters, digits and . _ : @ -, such as cp-1',
            }),
            /** The admin URL the other replicas and operators reach this replica at; default `http(s)://<listen.host>:<port>`. */
            advertiseUrl: Type.String({
              maxLength: 2048,
              pattern: '^(https?://[^\\s/]+.*)?$',
              default: '',
              fix: 'use an http:// or https:// URL such as http://10.0.0.1:15010',
            }),
            /**
             * TLS to the etcd members (`https://` endpoints): the CA that signed
             * their certificates and, when etcd checks clients
             * (`--client-cert-auth`), this replica's client certificate and key.
             * Without `caFile` the system's roots are used.
             */
            tls: Type.Object(
              {
                /** PEM CA bundle that signed the etcd members' certificates. */
                caFile: Type.Optional(Type.String({ minLength: 1 })),
                /** PEM client certificate of this replica (with `keyFile`). */
                certFile: Type.Optional(Type.String({ minLength: 1 })),
                /** PEM private key of `certFile`. */
                keyFile: Type.Optional(Type.String({ minLength: 1 })),
              },
              { default: {}, additionalProperties: false },
            ),
            /** etcd user to authenticate as when etcd's auth is enabled (with `passwordFile`). */
            username: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
            /** File whose first line is the etcd user's password; read at start and never logged. */
            passwordFile: Type.Optional(Type.String({ minLength: 1 })),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    heartbeat: Type.Object(
      {
        /** An agent silent for longer than this leaves the routing table. */
        timeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 3000 }),
        checkIntervalMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
      },
      { default: {}, additionalProperties: false },
    ),
    push: Type.Object(
      {
        debounceMs: Type.Integer({ minimum: 0, maximum: 10_000, default: 20 }),
        maxDelayMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 500 }),
        /** After a start, wait this long for agents to reconnect before pushing a table built from a partial registry. */
        startupGraceMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 3000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    stream: Type.Object(
      {
        maxMessageBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
        helloTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 5000 }),
        /** The largest first message (the hello) a stream may send; a larger one is refused at its frame header. */
        helloMaxBytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024, default: 64 * 1024 }),
        /** Streams not yet authenticated (no credential or client certificate at the upgrade, no hello yet) from one address. */
        maxUnauthenticatedPerAddress: Type.Integer({ minimum: 1, maximum: 100_000, default: 16 }),
        /** ...and from all addresses together. */
        maxUnauthenticated: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024 }),
        /** Reports (observations, health) one agent may send per second, sustained; more are dropped and counted. */
        reportsPerSecond: Type.Number({ minimum: 0.1, maximum: 10_000, default: 20 }),
        /** ...and at once, after a quiet spell. */
        reportBurst: Type.Integer({ minimum: 1, maximum: 100_000, default: 40 }),
      },
      { default: {}, additionalProperties: false },
    ),
    registry: Type.Object(
      {
        /** A disconnected agent is listed this long in `/v1/agents`, then forgotten. */
        forgetAfterMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000 }),
        /** A remembered service with no instance listed and no policy for this long is forgotten; 0: never. */
        serviceExpiryMs: Type.Integer({ minimum: 0, maximum: 31_536_000_000, default: 86_400_000 }),
        /**
         * CIDR ranges in which an agent may advertise its instance whatever
         * address it connects from (NAT, a proxy before the control plane).
         * Outside them the advertised address must be the connection's source.
         */
        allowedAddressRanges: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 1000,
        }),
        /**
         * Accept host names as advertised hosts (weaker: what a name
         * resolves to is decided by DNS at each caller's lookup, not checked
         * against the agent's connection). Off: only IP addresses.
         */
        allowHostNames: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
    health: Type.Object(
      {
        /** Distinct callers that must see an instance failing to mark it unhealthy (or a majority of its callers, when it has fewer). */
        quorum: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
        /** Callers' reports older than this are forgotten. */
        observationWindowMs: Type.Integer({ minimum: 500, maximum: 600_000, default: 3000 }),
        /** Failures a caller must have seen within the window to count as seeing the instance fail. */
        minFailures: Type.Integer({ minimum: 1, maximum: 100_000, default: 3 }),
        /** ...and the share of its attempts that failed, in percent. */
        failurePercent: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
        /** How long callers' evidence keeps an instance down before it is tried again; doubled after each failed try. */
        observationHoldMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 5000 }),
        /** A recovering instance that stays clean this long is healthy again. */
        recoverMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 3000 }),
        /** More transitions to unhealthy than this within `flapWindowMs` hold the instance down. */
        flapThreshold: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
        flapWindowMs: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 60_000 }),
        /** First hold-down of a flapping instance; doubled on each further hold-down, up to `maxHoldDownMs`. */
        holdDownMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 10_000 }),
        maxHoldDownMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    failover: Type.Object(
      {
        /** The primary tier must stay healthy this long before traffic fails back to it. */
        failbackHoldMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 10_000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    events: Type.Object(
      {
        /** Health and failover decisions kept for `/v1/events`; the oldest are dropped first. */
        maxEvents: Type.Integer({ minimum: 10, maximum: 1_000_000, default: 1000 }),
      },
      { default: {}, additionalProperties: false },
    ),
    auth: Type.Object(
      {
        /**
         * A join token shared by every agent, admitting its holder as any
         * service (insecure: prefer per-service credentials). Honoured only
         * with `allowSharedJoinToken: true`.
         */
        joinToken: Type.Optional(Type.String({ minLength: 16 })),
        /** Accept `joinToken` besides per-service credentials (insecure; for moving a mesh off the shared token). */
        allowSharedJoinToken: Type.Boolean({ default: false }),
        /** Bearer token of role admin for the admin API (`/v1/...`, `/metrics`). Beyond loopback an admin token (this or one in `tokensFile`) is required. */
        adminToken: Type.Optional(Type.String({ minLength: 16 })),
        /** Bearer token of role read-only: GET, HEAD and OPTIONS on the admin API, nothing that changes state. */
        readOnlyToken: Type.Optional(Type.String({ minLength: 16 })),
        /** A YAML or JSON file listing named tokens, `[{ name, token, role }]` (see {@link AuthTokensFile}); read at start. */
        tokensFile: Type.Optional(Type.String({ minLength: 1 })),
        /** Listen beyond loopback without join and admin tokens (not recommended). */
        allowInsecureRemote: Type.Boolean({ default: false }),
        /**
         * Host names the admin API answers to while no token is configured,
         * besides IP addresses, `localhost` and `listen.host` (DNS rebinding
         * protection). File only.
         */
        allowedHosts: Type.Array(
          Type.String({
            minLength: 1,
            maxLength: 253,
            pattern: '^[A-Za-z0-9._-]+$',
            fix: 'use a host name such as meshlet.internal, without a port or scheme',
          }),
          { default: [], maxItems: 100 },
        ),
        /** Put `/docs` and `/docs/json` (the OpenAPI page) behind the bearer tokens: any valid token, read-only included. */
        protectDocs: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * Serve the stream and the admin API over TLS (`https://`, `wss://`).
     * `certFile` and `keyFile` go together; without them the server speaks
     * plain HTTP.
     */
    tls: Type.Object(
      {
        /** PEM certificate of the server (its chain may follow it in the same file). */
        certFile: Type.Optional(Type.String({ minLength: 1 })),
        /** PEM private key of `certFile`. */
        keyFile: Type.Optional(Type.String({ minLength: 1 })),
        /** PEM intermediate CA certificates sent after `certFile`, for a certificate signed by an intermediate. */
        caFile: Type.Optional(Type.String({ minLength: 1 })),
        /**
         * Serve plain HTTP and `ws://` on a non-loopback `listen.host`
         * (insecure: tokens and join credentials cross the network in the
         * clear). Logged at warn at every start.
         */
        allowPlaintextRemote: Type.Boolean({ default: false }),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * HTTP endpoints told of every health, failover and drain decision (the
     * events of `/v1/events`), as JSON or as a Slack message. File only.
     */
    webhooks: Type.Array(
      Type.Object(
        {
          /** Where the event is POSTed; an https URL unless the receiver is on a trusted network. */
          url: Type.String({
            format: 'uri',
            pattern: '^https?://[^\\s/]+',
            maxLength: 2048,
            fix: 'use an http:// or https:// URL',
          }),
          /** `json`: `{ "event": {...} }`; `slack`: `{ "text": "..." }` for a Slack incoming webhook. */
          format: Type.Union([Type.Literal('json'), Type.Literal('slack')], { default: 'json' }),
          /** Kinds of event sent (default: all). */
          kinds: Type.Array(
            Type.Union([
              Type.Literal('health'),
              Type.Literal('failover'),
              Type.Literal('drain'),
              Type.Literal('sharding'),
              Type.Literal('primary'),
            ]),
            { minItems: 1, uniqueItems: true, default: ['health', 'failover', 'drain', 'sharding', 'primary'] },
          ),
          /** One attempt slower than this fails (and is retried). */
          timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
          /** Extra request headers, such as an `Authorization`; never logged. */
          headers: Type.Optional(
            Type.Record(
              Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" }),
              Type.String({ pattern: '^[^\\r\\n]*$' }),
              {
                maxProperties: 50,
                additionalProperties: false,
              },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      { default: [], maxItems: 20 },
    ),
    /**
     * Workload identities: the trust domain of the SPIFFE IDs the control
     * plane certifies, how long a workload certificate lives, and where the
     * certificate authority comes from (see docs/security.md).
     */
    identity: Type.Object(
      {
        /** The `<trustDomain>` of `spiffe://<trustDomain>/svc/<service>`. */
        trustDomain: Type.String({ minLength: 1, ...TRUST_DOMAIN_RULE, default: DEFAULT_TRUST_DOMAIN }),
        /** Lifetime of a workload certificate, as a duration such as `24h`, `90m` or `20s`; at least 5 s. */
        certificateTtl: Type.String({
          pattern: '^(\\d{1,9}(ms|s|m|h|d))+$',
          default: '24h',
          fix: 'write a duration such as 24h, 90m or 30s (at least 5s)',
        }),
        ca: Type.Object(
          {
            /**
             * `auto`: `generated` with the file store, `memory` with etcd;
             * `generated`: made at first start in `dir` and read back after;
             * `memory`: made at every start, kept nowhere; `files`: the operator's.
             */
            source: Type.Union(
              [Type.Literal('auto'), Type.Literal('generated'), Type.Literal('memory'), Type.Literal('files')],
              { default: 'auto' },
            ),
            /** Directory of a generated CA; default `<dataDir>/ca`. */
            dir: Type.Optional(Type.String({ minLength: 1 })),
            /** With `source: files`: the PEM roots every agent trusts. */
            trustBundleFile: Type.Optional(Type.String({ minLength: 1 })),
            /** With `source: files`: the PEM issuer certificate, optionally followed by intermediates. */
            issuerCertFile: Type.Optional(Type.String({ minLength: 1 })),
            /** With `source: files`: the issuer's unencrypted PKCS#8 ECDSA P-256 key. */
            issuerKeyFile: Type.Optional(Type.String({ minLength: 1 })),
            /**
             * A file holding 32 random bytes (base64 or hex) that seal the keys
             * a root rotation keeps in the store (AES-256-GCM); the same file on
             * every replica. Default: made at first rotation in the generated
             * CA's directory; required for `meshctl ca rotate` with `source: files`.
             */
            stateKeyFile: Type.Optional(Type.String({ minLength: 1 })),
            /**
             * The agents' `controlPlane.reconnectMaxDelayMs`: a replica that begins to lead (or a control
             * plane that starts) waits `push.startupGraceMs + heartbeat.timeoutMs` and this before it moves
             * a root rotation on, so that the agents have reconnected and can prove each step.
             */
            agentReconnectMaxDelayMs: Type.Integer({ minimum: 10, maximum: 600_000, default: 5000 }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    /**
     * Traffic policy per service (balancer, tiers, retries, timeouts, routes...),
     * shipped to callers in the routing table. A service named here is in the
     * table even before any instance registers.
     */
    services: Type.Record(ServiceName, ServicePolicy, { default: {}, additionalProperties: false }),
    /**
     * Authorization policy per service (who may call it, by identity, method
     * and path; `mode: enforce | audit`), shipped in the routing table to the
     * service's own agents. A policy written through the admin API
     * (`PUT /v1/authz/NAME`) replaces the one here. No policy: any caller the
     * service's mTLS mode lets in is allowed. See docs/security.md.
     */
    authz: Type.Record(ServiceName, AuthzPolicy, { default: {}, additionalProperties: false }),
    tableBudget: TableBudgetConfig,
    log: LogConfig,
  },
  { additionalProperties: false },
);
/** {@inheritDoc ControlPlaneConfig} */
export type ControlPlaneConfig = Static<typeof ControlPlaneConfig>;

/** One entry of the control plane's `webhooks` setting. */
export type WebhookConfig = ControlPlaneConfig['webhooks'][number];

/** What a bearer token of the admin API may do: everything, or only read (GET, HEAD, OPTIONS). */
export const AuthRole = Type.Union([Type.Literal('admin'), Type.Literal('read-only')]);
/** {@inheritDoc AuthRole} */
export type AuthRole = Static<typeof AuthRole>;

/** One named bearer token of `auth.tokensFile`. The name shows in logs and in 403 answers; the token never does. */
export const AuthTokenEntry = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9._:@-]+$',
      fix: 'use 1 to 64 letters, digits, ".", "_", ":", "@" or "-"',
    }),
    token: Type.String({
      minLength: 16,
      fix: 'use a random token of at least 16 characters, such as the output of "openssl rand -hex 24"',
    }),
    role: AuthRole,
  },
  { additionalProperties: false },
);
/** {@inheritDoc AuthTokenEntry} */
export type AuthTokenEntry = Static<typeof AuthTokenEntry>;

/** The content of `auth.tokensFile`: a list of named tokens. */
export const AuthTokensFile = Type.Array(AuthTokenEntry, { maxItems: 1000 });
/** {@inheritDoc AuthTokensFile} */
export type AuthTokensFile = Static<typeof AuthTokensFile>;
