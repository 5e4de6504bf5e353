import { type Static, Type } from '@sinclair/typebox';

/**
 * gRPC status codes by name (lower-case, with dashes), as the policy names
 * them, and their numbers on the wire (`grpc-status`).
 */
export const GRPC_CODES = {
  ok: 0,
  cancelled: 1,
  unknown: 2,
  'invalid-argument': 3,
  'deadline-exceeded': 4,
  'not-found': 5,
  'already-exists': 6,
  'permission-denied': 7,
  'resource-exhausted': 8,
  'failed-precondition': 9,
  aborted: 10,
  'out-of-range': 11,
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  'data-loss': 15,
  unauthenticated: 16,
} as const;

/** A gRPC status code's name. */
export type GrpcCodeName = keyof typeof GRPC_CODES;

const GrpcCode = Type.Union(
  (Object.keys(GRPC_CODES) as GrpcCodeName[]).map((name) => Type.Literal(name)),
  { description: 'a gRPC status code by name, e.g. unavailable' },
);

/**
 * The protocol a service's app speaks, which its agent speaks to it:
 * `http1` (HTTP/1.1), `http2` (cleartext HTTP/2, prior knowledge) or `grpc`
 * (HTTP/2, with gRPC's status codes read for resilience) or `tcp` (bytes:
 * callers reach it through a dedicated upstream port, balanced per
 * connection, inside the agents' mutual TLS). Absent: learned
 * per request (a gRPC request, by its content type, goes to the app over
 * HTTP/2; anything else over HTTP/1.1).
 */
export const AppProtocol = Type.Union([
  Type.Literal('http1'),
  Type.Literal('http2'),
  Type.Literal('grpc'),
  Type.Literal('tcp'),
]);
/** {@inheritDoc AppProtocol} */
export type AppProtocol = Static<typeof AppProtocol>;

/**
 * How callers read gRPC answers of a service (any request whose content
 * type is `application/grpc`): which `grpc-status` codes count as the
 * endpoint's failures (outlier detection, the callers' health observations,
 * metrics), and which ones are retried on another endpoint (within
 * `retries.maxRetries` and the retry budget, and only while nothing of the
 * answer has reached the caller: an answer of headers and status alone).
 * Defaults as gRPC's own retry policy and Envoy's `retry_on: unavailable`.
 */
export const GrpcPolicy = Type.Object(
  {
    retryOn: Type.Array(GrpcCode, { default: ['unavailable'], maxItems: 17, uniqueItems: true }),
    failureCodes: Type.Array(GrpcCode, {
      default: ['unavailable', 'internal', 'deadline-exceeded'],
      maxItems: 17,
      uniqueItems: true,
    }),
  },
  { default: {}, additionalProperties: false },
);
/** {@inheritDoc GrpcPolicy} */
export type GrpcPolicy = Static<typeof GrpcPolicy>;
