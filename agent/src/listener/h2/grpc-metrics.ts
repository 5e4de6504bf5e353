import { GRPC_CODES } from '@meshlet/shared';

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(GRPC_CODES).map(([name, code]) => [code, name.toUpperCase().replace(/-/g, '_')]),
);

/** The name gRPC gives a status code (`UNAVAILABLE`), `UNKNOWN` for one it does not know. */
export function grpcCodeName(code: number | undefined): string {
  return code === undefined ? 'UNKNOWN' : (NAMES[code] ?? 'UNKNOWN');
}

/** Counts one gRPC call of `service` answered `code` (absent: the answer carried none, counted as UNKNOWN). */
export function recordGrpcCall(
  counter: { labels(service: string, code: string): { inc(): void } } | undefined,
  service: string,
  code: number | undefined,
): void {
  counter?.labels(service, grpcCodeName(code)).inc();
}
