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

/** The most digits a `grpc-timeout` value may have. */
const MAX_DIGITS = 99_999_999;

/**
 * A `grpc-timeout` header for `ms` milliseconds left: in the finest unit
 * whose value fits the spec's 8 digits (milliseconds, then seconds,
 * minutes, hours), rounded up, at least 1.
 */
export function grpcTimeoutHeader(ms: number): string {
  for (const unit of ['m', 'S', 'M', 'H'] as const) {
    const value = Math.max(1, Math.ceil(ms / (UNITS[unit] as number)));
    if (value <= MAX_DIGITS) return `${value}${unit}`;
  }
  return `${MAX_DIGITS}H`;
}
