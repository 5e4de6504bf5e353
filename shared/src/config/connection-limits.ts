import { type Static, Type } from '@sinclair/typebox';
import type { ValidationIssue } from '../errors.js';

/** Defaults of one listener's {@link connectionLimitsSchema}. */
export interface ConnectionLimitDefaults {
  maxConnections: number;
  maxConnectionsPerAddress: number;
  /** Default 5 s (node's); the fastify listeners keep fastify's 72 s, above common load balancers' 60 s idle timeout. */
  idleTimeoutMs?: number;
  /** Default 64: a caller's /64 is one address. */
  ipv6PrefixLength?: number;
}

/**
 * What one listener takes before it refuses or closes a connection (see
 * docs/security.md, "Connection limits"). The timeouts default to 10 s for
 * the request headers and 300 s for the whole request (Envoy's edge
 * guidance for `request_timeout`, and Node's own default); the connection
 * caps and the keep-alive idleness default per listener.
 */
export function connectionLimitsSchema(defaults: ConnectionLimitDefaults) {
  return Type.Object(
    {
      /** Connections open at once on this listener; one more is refused. 0: no cap. */
      maxConnections: Type.Integer({ minimum: 0, maximum: 1_000_000, default: defaults.maxConnections }),
      /** Connections open at once from one source address; one more from it is refused. 0: no cap. */
      maxConnectionsPerAddress: Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: defaults.maxConnectionsPerAddress,
      }),
      /**
       * How many leading bits of an IPv6 source address name one caller for
       * `maxConnectionsPerAddress` (and, on the control plane's listener, the
       * caps and throttles keyed on the caller's address): 64 counts a whole
       * /64 as one address, 128 each address by itself. IPv4 is always per address.
       */
      ipv6PrefixLength: Type.Integer({ minimum: 32, maximum: 128, default: defaults.ipv6PrefixLength ?? 64 }),
      /** A request's headers must be in within this long of its first byte (or of the connection); else 408 and closed. 0: no limit. */
      headersTimeoutMs: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 10_000 }),
      /** The whole request (headers and body) must be in within this long; else 408 and closed. 0: no limit. */
      requestTimeoutMs: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000 }),
      /** A keep-alive connection with no request in flight is closed after this long. */
      idleTimeoutMs: Type.Integer({ minimum: 100, maximum: 3_600_000, default: defaults.idleTimeoutMs ?? 5_000 }),
    },
    { default: {}, additionalProperties: false },
  );
}

/** One listener's connection limits, validated. */
export type ConnectionLimits = Static<ReturnType<typeof connectionLimitsSchema>>;

/**
 * What the schema cannot say of one listener's limits: the headers must
 * be due no later than the whole request (node:http refuses otherwise).
 *
 * @param path - where the limits sit in the config, such as `listeners.inbound.limits`
 */
export function connectionLimitsIssues(limits: ConnectionLimits, path: string): ValidationIssue[] {
  const { headersTimeoutMs: headers, requestTimeoutMs: request } = limits;
  if (request > 0 && (headers === 0 || headers > request))
    return [
      {
        path: `${path}.headersTimeoutMs`,
        problem: `is ${headers === 0 ? '0 (no limit)' : `${headers} ms`}, beyond ${path}.requestTimeoutMs (${request} ms)`,
        fix: `set ${path}.headersTimeoutMs to at most ${request}, or raise ${path}.requestTimeoutMs`,
      },
    ];
  return [];
}
