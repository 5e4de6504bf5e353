import type { Server } from 'node:http';
import {
  ConfigError,
  type ConnectionGuard,
  type ConnectionLimits,
  connectionLimitsIssues,
  guardConnections,
} from '@meshlet/shared';
import type { AgentMetrics } from '../metrics.js';
import { listen } from './server-lifecycle.js';

/** Where one agent listener binds, with its limits, as the config gives them. */
export interface GuardedAddress {
  host: string;
  port: number;
  limits: ConnectionLimits;
}

/** How one agent listener is guarded: its name in metrics, its config path, what a refused caller sees. */
export interface GuardSpec {
  /** `inbound`, `outbound`, `upstream:SERVICE` or `admin`. */
  listener: string;
  /** Where its limits sit in the config, for a clear error (`listeners.inbound.limits`). */
  path: string;
  /** See {@link ConnectionGuardOptions.refusal}. */
  refusal: 'http' | 'close';
  /** fastify answers client errors itself; the plain listeners do not. */
  answerClientErrors?: boolean;
}

/**
 * The agent's listeners as they are guarded: a refused caller of the
 * inbound listener is closed without a byte (its first bytes pick TLS or
 * plaintext), the others get a 503 JSON answer.
 */
export const AGENT_LISTENERS = {
  outbound: { listener: 'outbound', path: 'listeners.outbound.limits', refusal: 'http' },
  inbound: { listener: 'inbound', path: 'listeners.inbound.limits', refusal: 'close' },
  admin: { listener: 'admin', path: 'listeners.admin.limits', refusal: 'http', answerClientErrors: false },
  upstream: (service: string): GuardSpec => ({
    listener: `upstream:${service}`,
    path: 'upstreams[].limits',
    refusal: 'http',
  }),
} as const satisfies Record<string, GuardSpec | ((service: string) => GuardSpec)>;

/**
 * Puts `limits` on one of the agent's servers (see `guardConnections`),
 * counting refusals and open connections in the agent's metrics; throws a
 * {@link ConfigError} naming the field when the limits contradict each other.
 */
export function guardListener(
  server: Server,
  limits: ConnectionLimits,
  spec: GuardSpec,
  metrics: Pick<AgentMetrics, 'connectionsRefused' | 'connectionsOpen'>,
): ConnectionGuard {
  const issues = connectionLimitsIssues(limits, spec.path);
  if (issues.length > 0) throw new ConfigError(`the ${spec.listener} listener's limits`, issues);
  const open = metrics.connectionsOpen.labels(spec.listener);
  open.set(0);
  return guardConnections(server, {
    listener: spec.listener,
    limits,
    refusal: spec.refusal,
    answerClientErrors: spec.answerClientErrors ?? true,
    onRefused: (reason) => metrics.connectionsRefused.labels(spec.listener, reason).inc(),
    onOpen: (delta) => open.inc(delta),
  });
}

/** {@link guardListener}, then binds the server; resolves with the port bound. */
export function listenGuarded(
  server: Server,
  address: GuardedAddress,
  spec: GuardSpec,
  metrics: Pick<AgentMetrics, 'connectionsRefused' | 'connectionsOpen'>,
): Promise<number> {
  guardListener(server, address.limits, spec, metrics);
  return listen(server, address.host, address.port);
}
