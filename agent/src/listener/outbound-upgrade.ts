import { failureKind } from '../resilience/failure-kind.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { PickContext } from '../balancer/balancer.js';
import { AgentErrors } from '../errors.js';
import type { Destination } from '../route/destination.js';
import { requestHash } from '../route/request-hash.js';
import { attemptSelection } from '../sharding/range-follow.js';
import type { OriginPools } from './origin-pools.js';
import type { RequestTarget } from './request-target.js';
import { addTraceContextRaw } from './trace-context.js';
import { refuseUpgrade, tunnelUpgrade } from './upgrade-tunnel.js';

/**
 * Carries a routed upgrade (WebSocket) from the outbound listener to an
 * endpoint of its destination: trace context kept or created, one endpoint
 * per attempt, and a 502 refusal when none could be reached. Only connect
 * failures are retried: once the upgrade request is out, the app may have
 * acted on it.
 */
export async function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: RequestTarget,
  d: Destination,
  pools: OriginPools,
): Promise<void> {
  const trace: string[] = [];
  for (const name of ['traceparent', 'x-request-id'] as const) {
    const v = req.headers[name];
    if (typeof v === 'string') trace.push(name, v);
  }
  addTraceContextRaw(trace);
  const extra: Record<string, string> = {};
  for (let i = 0; i < trace.length; i += 2) extra[trace[i] as string] = trace[i + 1] as string;
  const tried = new Set<string>();
  const pick: PickContext = { exclude: tried, hash: requestHash(req, target.path, d.dest.policy.balancer.hashKey) };
  const failures: string[] = [];
  for (let attempt = 0; attempt <= d.retries.maxRetries; attempt++) {
    // A range's owner as of the table in force (see RangeFollow); a tunnel once open stays where it was opened.
    const lb = attemptSelection(d.range, d.lb, (r) => refuseUpgrade(socket, r.refusal, r.extra));
    if (lb === undefined) return;
    const endpoint = lb.pick(pick);
    if (!endpoint) break;
    tried.add(endpoint.id);
    const r = await tunnelUpgrade(req, socket, head, {
      host: endpoint.host,
      port: endpoint.port,
      path: target.path,
      hostHeader: target.service,
      extraHeaders: extra,
      connectTimeoutMs: d.timeouts.connectMs,
      tlsSocket: pools.tunnelSocket(endpoint, d.dest.name),
    });
    if (!r.ok && failureKind(r.error) === 'identity') {
      // This agent's own certificate is missing or expired: no endpoint is to blame, and none would do better.
      refuseUpgrade(socket, AgentErrors.IDENTITY_UNAVAILABLE(r.error.message));
      return;
    }
    // A tunnel has no status to judge: connecting is the success (and, as for requests, what outlier detection and the observations count).
    d.dest.outcome(endpoint.id, !r.ok);
    if (r.ok) return;
    failures.push(`${endpoint.id}: ${r.error.message}`);
  }
  refuseUpgrade(
    socket,
    AgentErrors.UPSTREAM_UNREACHABLE(`no endpoint of "${d.dest.name}" could be reached (${failures.join('; ')})`),
  );
}
