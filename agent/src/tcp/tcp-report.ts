import type { Logger } from '@meshlet/shared';
import type { TcpMetrics } from './tcp-metrics.js';
import type { TcpRelayResult } from './tcp-relay.js';

/** One TCP connection as it is counted and logged: never a byte of its payload. */
export interface TcpConnectionRecord {
  direction: 'outbound' | 'inbound';
  service: string;
  /** `ok` when relayed; otherwise why not (a metric label). */
  result: string;
  /** The endpoint (outbound) relayed to, if any. */
  endpoint?: string | undefined;
  /** The calling workload (inbound): its SPIFFE ID, or undefined for plaintext. */
  caller?: string | undefined;
  /** The client's address. */
  client?: string | undefined;
  /** The failover term the connection was opened under. */
  term?: number | undefined;
  role?: string | undefined;
  /** Connect attempts that failed before this one (outbound). */
  retries?: number | undefined;
  /** The `MESHLET_*` code of a refusal, and its message. */
  code?: string | undefined;
  message?: string | undefined;
  /** How the relay ended (absent: never relayed). */
  relay?: TcpRelayResult | undefined;
  durationMs?: number | undefined;
  /** Refusals of the same kind not logged since the last line that was. */
  suppressed?: number | undefined;
}

/** Where {@link reportTcpConnection} sends a record. */
export interface TcpReporting {
  metrics?: TcpMetrics | undefined;
  /** The access log (component `access`); absent: `accessLog.enabled` is off. */
  accessLog?: Logger | undefined;
}

/** Counts a finished (or refused) connection and writes its access log line. */
export function reportTcpConnection(r: TcpReporting, c: TcpConnectionRecord): void {
  const m = r.metrics;
  if (m) {
    if (c.result !== 'ok') m.connections.labels(c.direction, c.service, c.result).inc();
    if (c.relay) {
      m.sent.labels(c.direction, c.service).inc(c.relay.sent);
      m.received.labels(c.direction, c.service).inc(c.relay.received);
      m.closes.labels(c.direction, c.service, c.relay.reason).inc();
      if (c.durationMs !== undefined) m.duration.labels(c.direction, c.service).observe(c.durationMs / 1000);
    }
  }
  const log = r.accessLog;
  if (!log?.isLevelEnabled('info')) return;
  const line: Record<string, unknown> = {
    protocol: 'tcp',
    direction: c.direction,
    service: c.service,
    result: c.result,
  };
  for (const key of [
    'endpoint',
    'caller',
    'client',
    'term',
    'role',
    'retries',
    'code',
    'message',
    'suppressed',
  ] as const)
    if (c[key] !== undefined) line[key] = c[key];
  if (c.relay) {
    line.sent = c.relay.sent;
    line.received = c.relay.received;
    line.reason = c.relay.reason;
  }
  if (c.durationMs !== undefined) line.durationMs = Math.round(c.durationMs * 10) / 10;
  log.info(line, `${c.direction} tcp connection`);
}

/** Counts a connection that is relayed from now on: `ok`, and open until `closed` is called. */
export function openTcpConnection(r: TcpReporting, direction: 'outbound' | 'inbound', service: string): () => void {
  r.metrics?.connections.labels(direction, service, 'ok').inc();
  r.metrics?.open.labels(direction, service).inc();
  return () => r.metrics?.open.labels(direction, service).dec();
}
