import type { Socket } from 'node:net';
import { type InstanceRole, type Logger, TCP_IDLE_TIMEOUT_MS } from '@meshlet/shared';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { MtlsConnector } from '../listener/mtls-connector.js';
import type { RouteTable } from '../route/route-table.js';
import { AgentErrorCodes } from '../errors.js';
import { CALLER_REFUSALS, dialEndpoint } from './dial-endpoint.js';
import { encodePreamble } from './tcp-preamble.js';
import { TcpRelay } from './tcp-relay.js';
import { openTcpConnection, reportTcpConnection, type TcpReporting } from './tcp-report.js';
import { tcpTarget } from './tcp-target.js';
import { isFenced, type OpenTcpConnections } from './open-tcp-connections.js';

/** Options of {@link TcpOutbound}. */
export interface TcpOutboundOptions extends TcpReporting {
  table: () => RouteTable | undefined;
  /** Live per-endpoint stats: an open connection counts as an active request (least_request = fewest connections). */
  stats: EndpointStatsMap;
  /** The agent's mTLS connector; undefined: plaintext only. */
  connector: () => MtlsConnector | undefined;
  connections: OpenTcpConnections;
  log: Logger;
  /** Milliseconds, for durations. */
  clock: () => number;
}

/** One dedicated upstream port's service, and the role it asks for. */
export interface TcpUpstream {
  service: string;
  role?: InstanceRole | undefined;
}

/**
 * The caller side of a TCP service: a connection accepted on a dedicated
 * upstream port goes to one endpoint, picked per connection by the
 * service's balancer (tiers, zones, panic and outlier ejections first;
 * ring_hash and maglev keyed on the client's address), reached through
 * {@link dialEndpoint}. A connect failure (the endpoint's fault), before
 * any byte of the client's was sent, is retried on another endpoint, up to
 * the policy's `retries.maxRetries`, and counted against the endpoint by
 * outlier detection; a refusal of the caller (`CALLER_REFUSALS`) is
 * neither. Then the bytes are relayed both ways until either side
 * closes, the idle timeout, or fencing (see {@link OpenTcpConnections}).
 */
export class TcpOutbound {
  readonly #o: TcpOutboundOptions;

  constructor(options: TcpOutboundOptions) {
    this.#o = options;
  }

  /** Relays `client` to an endpoint of `upstream.service`; resolves once the connection is over. */
  async handle(client: Socket, upstream: TcpUpstream): Promise<void> {
    const o = this.#o;
    const base = { direction: 'outbound' as const, service: upstream.service, client: client.remoteAddress };
    client.on('error', () => client.destroy());
    const refuse = (result: string, code: string, message: string, retries = 0): void => {
      client.destroy();
      reportTcpConnection(o, { ...base, result, code, message, retries, ...roleOf(upstream) });
    };
    const tried = new Set<string>();
    let last = { code: '', message: '' };
    for (let attempt = 0; ; attempt++) {
      if (client.destroyed) return;
      // The table is read afresh for every attempt: a dial can outlast a table install (a new term), and a retry
      // must go to the primary of the table in force, under its term, not to the one the first attempt saw.
      const table = o.table();
      if (table === undefined)
        return refuse('no_endpoint', 'MESHLET_NO_ROUTING_TABLE', 'the agent has no routing table', tried.size);
      const target = tcpTarget(table, upstream.service, upstream.role, client.remoteAddress);
      if (!target.ok) return refuse(target.result, target.code, target.message, tried.size);
      const { svc, lb, term, hash } = target;
      const exclude = target.exclude.size === 0 ? tried : new Set([...tried, ...target.exclude]);
      const policy = svc.policy;
      if (attempt > policy.retries.maxRetries) break;
      const endpoint = lb.pick(hash === undefined ? { exclude } : { exclude, hash });
      if (endpoint === undefined) break;
      const fencedBy = target.termOf(endpoint.id);
      tried.add(endpoint.id);
      const stats = o.stats.get(endpoint.id);
      stats.active++;
      const dialed = await dialEndpoint(endpoint, {
        service: upstream.service,
        preamble: encodePreamble({ v: 1, service: upstream.service, role: upstream.role, term }),
        connectMs: policy.timeouts.connectMs,
        connector: o.connector(),
      });
      if (!dialed.ok) {
        stats.active--;
        last = dialed;
        if (!dialed.blame) break;
        svc.outcome(endpoint.id, true);
        o.metrics?.connectFailures.labels(upstream.service, codeLabel(dialed.code)).inc();
        o.log.warn({ service: upstream.service, endpoint: endpoint.id, code: dialed.code }, dialed.message);
        continue;
      }
      // A table installed while the dial was in flight fenced nothing of this connection (it was not registered
      // yet): check it now, before a byte of the client's is relayed.
      if (fencedSince(o.table(), upstream.service, endpoint.id, fencedBy)) {
        stats.active--;
        dialed.socket.destroy();
        return refuse(
          'fenced',
          AgentErrorCodes.PRIMARY_FENCED,
          `${endpoint.id} stopped being the primary of term ${fencedBy} while the connection was being opened`,
          attempt,
        );
      }
      svc.outcome(endpoint.id, false);
      if (client.destroyed) {
        stats.active--;
        dialed.socket.destroy();
        return;
      }
      const relay = new TcpRelay(
        client,
        dialed.socket,
        policy.tcp?.idleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS,
        undefined,
        dialed.tail,
      );
      const closed = openTcpConnection(o, 'outbound', upstream.service);
      const forget = o.connections.add({
        service: upstream.service,
        endpoint: endpoint.id,
        term: fencedBy,
        close: (reason) => relay.close(reason),
      });
      const opened = o.clock();
      const result = await relay.done;
      forget();
      closed();
      stats.active--;
      reportTcpConnection(o, {
        ...base,
        ...roleOf(upstream),
        result: 'ok',
        endpoint: endpoint.id,
        term: fencedBy,
        retries: attempt,
        relay: result,
        durationMs: o.clock() - opened,
      });
      return;
    }
    const result = last.code === '' ? 'no_endpoint' : CALLER_REFUSALS.has(last.code) ? 'refused' : 'connect_failed';
    refuse(result, last.code || 'MESHLET_NO_HEALTHY_ENDPOINT', last.message || 'every endpoint was tried', tried.size);
  }
}

/** Whether the table in force now fences a connection opened to `endpoint` under `term` (see {@link isFenced}). */
function fencedSince(
  table: RouteTable | undefined,
  service: string,
  endpoint: string,
  term: number | undefined,
): boolean {
  if (term === undefined) return false;
  const managed = table?.service(service)?.policy.failover?.mode === 'managed';
  return isFenced({ endpoint, term }, table?.routes.services[service]?.failover, managed);
}

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(AgentErrorCodes));

/** A metric label for a failure's code: the callee writes its `ERR` line, so only the agent's own codes, else `other`. */
export function codeLabel(code: string): string {
  return KNOWN_CODES.has(code) ? code : 'other';
}

function roleOf(u: TcpUpstream): { role?: string } {
  return u.role === undefined ? {} : { role: u.role };
}
