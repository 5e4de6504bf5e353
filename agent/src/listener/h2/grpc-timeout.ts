/** gRPC's timeout units (the gRPC over HTTP/2 spec), in milliseconds. */
const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * When a call with this `grpc-timeout` header must end (on the
 * `performance.now()` clock, from `now`); undefined without one or when it
 * is malformed (then the call has no deadline, as gRPC servers treat it).
 */
export function grpcDeadline(header: string | string[] | undefined, now: number): number | undefined {
  if (typeof header !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(header);
  if (m === null) return undefined;
  return now + Number(m[1]) * (UNITS[m[2] as string] as number);
}

/** A `grpc-timeout` header for `ms` milliseconds left (rounded up, at least 1 ms). */
export function grpcTimeoutHeader(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}m`;
}
