import { type Static, Type } from '@sinclair/typebox';
import { AppProtocol, GrpcPolicy } from './grpc-policy.js';
import { ManagedFailoverPolicy } from './failover.js';
import { ShardingPolicy } from './sharding-policy.js';

/**
 * Per-service traffic policy: how callers balance, fail over, retry, time out
 * and protect themselves. The control plane holds it (its config file today,
 * the admin API later) and ships it in the routing table beside the
 * service's endpoints; every field has a default, so an empty policy `{}`
 * is a complete one. Defaults follow Envoy's where Envoy has one, and
 * `docs/data-plane.md` gives the reason for each.
 */

const ms = (def: number, max = 3_600_000) => Type.Integer({ minimum: 0, maximum: max, default: def });

/** Balancer kinds, named as Envoy names its load balancers. */
export const BalancerKind = Type.Union(
  [
    Type.Literal('round_robin'),
    Type.Literal('weighted'),
    Type.Literal('random'),
    Type.Literal('least_request'),
    Type.Literal('peak_ewma'),
    Type.Literal('ring_hash'),
    Type.Literal('maglev'),
  ],
  {
    default: 'round_robin',
    fix: 'use one of round_robin, weighted, random, least_request, peak_ewma, ring_hash, maglev',
  },
);
/** {@inheritDoc BalancerKind} */
export type BalancerKind = Static<typeof BalancerKind>;

/** Where a hash balancer reads the request's key. A request without the key gets a random pick. */
export const HashKey = Type.Object(
  {
    source: Type.Union(
      [Type.Literal('header'), Type.Literal('cookie'), Type.Literal('query'), Type.Literal('source_ip')],
      {
        fix: 'use one of header, cookie, query, source_ip',
      },
    ),
    /** Header, cookie or query parameter name; not used for `source_ip`. */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);
/** {@inheritDoc HashKey} */
export type HashKey = Static<typeof HashKey>;

/** Balancer settings. */
export const BalancerPolicy = Type.Object(
  {
    kind: BalancerKind,
    hashKey: Type.Optional(HashKey),
    /** least_request: weight / (active + 1)^bias when weights differ. */
    activeRequestBias: Type.Number({ minimum: 0, maximum: 10, default: 1 }),
    /** peak_ewma: decay time of the latency average. */
    ewmaDecayMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
    /** peak_ewma: latency assumed for an endpoint with no measurement yet. */
    ewmaDefaultLatencyMs: Type.Number({ minimum: 0, maximum: 60_000, default: 10 }),
    /** ring_hash: minimum number of entries on the ring (virtual nodes in all). */
    ringMinSize: Type.Integer({
      minimum: 1,
      maximum: 131_072,
      default: 1024,
      fix: 'use at most 131072: every caller builds the ring on each change of the service',
    }),
    /** maglev: lookup table size, a prime. */
    maglevTableSize: Type.Integer({
      minimum: 7,
      maximum: 655_373,
      default: 65537,
      fix: 'use a prime of at most 655373 (such as 65537 or 131071); a non-prime is raised to the next prime',
    }),
    /** ring_hash and maglev: no endpoint takes more than `factor` x the mean active requests; absent: off. */
    boundedLoadFactor: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc BalancerPolicy} */
export type BalancerPolicy = Static<typeof BalancerPolicy>;

/** Priority tiers, zones and panic. */
export const TierPolicy = Type.Object(
  {
    /** `spill`: lowest tier with enough healthy capacity, spilling over; `active-standby`: backup only while the primary has no healthy endpoint. */
    mode: Type.Union([Type.Literal('spill'), Type.Literal('active-standby')], {
      default: 'spill',
      fix: 'use spill or active-standby',
    }),
    /** Envoy's overprovisioning factor: a tier with 1/1.4 of its endpoints healthy still takes all traffic. */
    overprovisioningFactor: Type.Number({ minimum: 1, maximum: 10, default: 1.4 }),
    /** Below this percentage of healthy endpoints a tier ignores health and uses all its endpoints. 0 turns panic off. */
    panicThresholdPercent: Type.Number({ minimum: 0, maximum: 100, default: 50 }),
    /** Prefer endpoints in the caller's zone while at least this percentage of them is healthy. 0 turns zone preference off. */
    zoneMinHealthyPercent: Type.Number({ minimum: 0, maximum: 100, default: 70 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc TierPolicy} */
export type TierPolicy = Static<typeof TierPolicy>;

/** Timeouts; a route may override them. */
export const TimeoutPolicy = Type.Object(
  {
    connectMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 1000 }),
    /** Time to the response headers and between body chunks; 0: none. */
    requestMs: ms(15_000),
    /** Idle keep-alive connections to an endpoint are closed after this long. */
    idleMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 4000 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc TimeoutPolicy} */
export type TimeoutPolicy = Static<typeof TimeoutPolicy>;

/** Retries; a route may override them. */
export const RetryPolicy = Type.Object(
  {
    /** Retries after the first attempt (each on another endpoint while one is left). 0: off. */
    maxRetries: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
    /** Statuses from the app that are retried. */
    statuses: Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [502, 503, 504], maxItems: 50 }),
    /** Retry non-idempotent methods (POST, PATCH) too. */
    nonIdempotent: Type.Boolean({ default: false }),
    backoffBaseMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 25 }),
    backoffMaxMs: Type.Integer({ minimum: 0, maximum: 600_000, default: 250 }),
    /** Retry budget: retries at most this percentage of requests ... */
    budgetPercent: Type.Number({ minimum: 0, maximum: 100, default: 20 }),
    /** ... plus this many retries per second. */
    budgetMinPerSecond: Type.Number({ minimum: 0, maximum: 100_000, default: 10 }),
    /** Request bodies up to this size are buffered so that they can be retried; larger ones are not retried. */
    maxBufferBytes: Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024, default: 65_536 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc RetryPolicy} */
export type RetryPolicy = Static<typeof RetryPolicy>;

/** Circuit breaker per service (per caller). */
export const CircuitBreakerPolicy = Type.Object(
  {
    maxConcurrent: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1024 }),
    /** Requests that may wait for a free slot once `maxConcurrent` is reached; the rest get a 503 at once. */
    maxPending: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1024 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc CircuitBreakerPolicy} */
export type CircuitBreakerPolicy = Static<typeof CircuitBreakerPolicy>;

/** Outlier detection (passive health) per service, as each caller sees it. */
export const OutlierPolicy = Type.Object(
  {
    /** Consecutive 5xx answers or connect failures that eject an endpoint. 0 turns detection off. */
    consecutiveFailures: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
    /** Ejection time is this times the number of times the endpoint was ejected. */
    baseEjectionMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 30_000 }),
    /** At most this percentage of the service's endpoints are ejected at once (at least one). */
    maxEjectionPercent: Type.Number({ minimum: 0, maximum: 100, default: 10 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc OutlierPolicy} */
export type OutlierPolicy = Static<typeof OutlierPolicy>;

/** Token bucket per service, local to each caller. */
export const RateLimitPolicy = Type.Object(
  {
    requestsPerSecond: Type.Number({ minimum: 0.001, maximum: 10_000_000 }),
    /** Bucket size; defaults to one second of requests. */
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  },
  { additionalProperties: false },
);
/** {@inheritDoc RateLimitPolicy} */
export type RateLimitPolicy = Static<typeof RateLimitPolicy>;

/** Fault injection for drills: delay or abort a percentage of requests. */
export const FaultPolicy = Type.Object(
  {
    delay: Type.Optional(
      Type.Object(
        { percent: Type.Number({ minimum: 0, maximum: 100 }), ms: Type.Integer({ minimum: 0, maximum: 600_000 }) },
        { additionalProperties: false },
      ),
    ),
    abort: Type.Optional(
      Type.Object(
        { percent: Type.Number({ minimum: 0, maximum: 100 }), status: Type.Integer({ minimum: 200, maximum: 599 }) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
/** {@inheritDoc FaultPolicy} */
export type FaultPolicy = Static<typeof FaultPolicy>;

/** Label selector of a subset: endpoints whose labels include all of these. */
export const Subset = Type.Record(
  Type.String({ pattern: '^[A-Za-z0-9._/-]{1,63}$' }),
  Type.String({ maxLength: 253 }),
  {
    additionalProperties: false,
  },
);
/** {@inheritDoc Subset} */
export type Subset = Static<typeof Subset>;

/** A header condition of a route; exactly one of `exact`, `prefix`, `present`. */
export const HeaderMatch = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 256 }),
    exact: Type.Optional(Type.String({ maxLength: 4096 })),
    prefix: Type.Optional(Type.String({ maxLength: 4096 })),
    present: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
/** {@inheritDoc HeaderMatch} */
export type HeaderMatch = Static<typeof HeaderMatch>;

/** One weighted destination of a route. */
export const RouteSplit = Type.Object(
  {
    /** Another service to send to; defaults to the service the route belongs to. */
    service: Type.Optional(Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' })),
    subset: Type.Optional(Subset),
    weight: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1 }),
  },
  { additionalProperties: false },
);
/** {@inheritDoc RouteSplit} */
export type RouteSplit = Static<typeof RouteSplit>;

/** A deep copy of a schema without its `default` keywords, so that validating with defaults leaves absent fields absent. */
function withoutDefaults<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withoutDefaults) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string | symbol, unknown> = {};
  for (const key of Reflect.ownKeys(schema)) {
    if (key === 'default') continue;
    out[key] = withoutDefaults((schema as Record<string | symbol, unknown>)[key]);
  }
  return out as T;
}

/** Route-level overrides: the service's retry fields (but the budget, which is the service's) and timeouts, without defaults of their own. */
export const RetryOverride = withoutDefaults(
  Type.Partial(Type.Omit(RetryPolicy, ['budgetPercent', 'budgetMinPerSecond']), { additionalProperties: false }),
);
/** {@inheritDoc RetryOverride} */
export type RetryOverride = Static<typeof RetryOverride>;
export const TimeoutOverride = withoutDefaults(Type.Partial(TimeoutPolicy, { additionalProperties: false }));
/** {@inheritDoc TimeoutOverride} */
export type TimeoutOverride = Static<typeof TimeoutOverride>;

/**
 * A routing rule of a service. Rules are tried in order; the first whose
 * every condition holds wins. The host condition is the service itself (the
 * name in the request's Host or absolute URL).
 */
export const RouteRule = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 128 })),
    match: Type.Object(
      {
        pathPrefix: Type.Optional(Type.String({ pattern: '^/', maxLength: 2048 })),
        methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$', maxLength: 32 }), { maxItems: 16 })),
        headers: Type.Optional(Type.Array(HeaderMatch, { maxItems: 32 })),
      },
      { default: {}, additionalProperties: false },
    ),
    /** Where matching requests go; absent: the whole service. */
    splits: Type.Optional(Type.Array(RouteSplit, { minItems: 1, maxItems: 64 })),
    retries: Type.Optional(RetryOverride),
    timeouts: Type.Optional(TimeoutOverride),
  },
  { additionalProperties: false },
);
/** {@inheritDoc RouteRule} */
export type RouteRule = Static<typeof RouteRule>;

/** Slow start: a new or returning endpoint's weight ramps up over `windowMs`. */
export const SlowStartPolicy = Type.Object(
  {
    /** 0 turns slow start off. */
    windowMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 0 }),
    /** The weight starts at this fraction of the full weight. */
    minWeightPercent: Type.Number({ minimum: 1, maximum: 100, default: 10 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc SlowStartPolicy} */
export type SlowStartPolicy = Static<typeof SlowStartPolicy>;

/**
 * Mutual TLS on the service's inbound listeners (for agents that hold a
 * workload identity). `strict`: every caller must present a mesh
 * certificate, a plaintext request gets `MESHLET_MTLS_REQUIRED`;
 * `permissive`: plaintext callers are relayed too, without a caller
 * identity (for migrating callers that have none yet).
 */
export const MtlsPolicy = Type.Object(
  {
    mode: Type.Union([Type.Literal('strict'), Type.Literal('permissive')], { default: 'strict' }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc MtlsPolicy} */
export type MtlsPolicy = Static<typeof MtlsPolicy>;

/**
 * A `protocol: tcp` service's connections (see docs/databases.md). Absent:
 * the defaults, an idle timeout of one hour, as Envoy's tcp_proxy.
 */
export const TcpPolicy = Type.Object(
  {
    /** A relayed connection with no byte either way for this long is closed; 0: never (Envoy's tcp_proxy `idle_timeout`, 1 h). */
    idleTimeoutMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 3_600_000 }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc TcpPolicy} */
export type TcpPolicy = Static<typeof TcpPolicy>;

/** The TCP idle timeout when a service's policy has no `tcp` (see {@link TcpPolicy}). */
export const TCP_IDLE_TIMEOUT_MS = 3_600_000;

/** Everything a caller needs to know about how to call a service. */
export const ServicePolicy = Type.Object(
  {
    balancer: BalancerPolicy,
    tiers: TierPolicy,
    slowStart: SlowStartPolicy,
    timeouts: TimeoutPolicy,
    retries: RetryPolicy,
    circuitBreaker: CircuitBreakerPolicy,
    outlierDetection: OutlierPolicy,
    rateLimit: Type.Optional(RateLimitPolicy),
    faultInjection: Type.Optional(FaultPolicy),
    routes: Type.Array(RouteRule, { default: [], maxItems: 256 }),
    /** Absent: `strict` (see {@link MtlsPolicy}); optional so that tables and stored policies without it stay as they are. */
    mtls: Type.Optional(MtlsPolicy),
    /** The protocol the service's app speaks (see {@link AppProtocol}); absent: learned per request. */
    protocol: Type.Optional(AppProtocol),
    /** How gRPC answers count (see {@link GrpcPolicy}); absent: its defaults. */
    grpc: Type.Optional(GrpcPolicy),
    /** Range sharding (see {@link ShardingPolicy}); absent: every endpoint may serve every request. */
    sharding: Type.Optional(ShardingPolicy),
    /** Managed failover (see {@link ManagedFailoverPolicy}); absent: the mesh only follows the roles the checks report. */
    failover: Type.Optional(ManagedFailoverPolicy),
    /** A `protocol: tcp` service's connections (see {@link TcpPolicy}); absent: its defaults. */
    tcp: Type.Optional(TcpPolicy),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc ServicePolicy} */
export type ServicePolicy = Static<typeof ServicePolicy>;
