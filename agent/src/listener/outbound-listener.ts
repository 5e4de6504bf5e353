import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '@meshlet/shared';
import { AgentErrorCodes, ERROR_HEADER } from '../errors.js';
import type { RouteTable } from '../route/route-table.js';
import { ClientGone, failureKind, hasBody, isIdempotent, relay, upstreamHeaders } from './http-relay.js';
import { sendJsonError } from './json-error.js';
import type { OriginPools } from './origin-pools.js';
import { requestTarget } from './request-target.js';

/** Options of {@link OutboundListener}. */
export interface OutboundOptions {
  table: () => RouteTable | undefined;
  pools: OriginPools;
  log: Logger;
  requestTimeoutMs: number;
  maxAttempts: number;
}

/**
 * Answers from a peer agent that mean "my app could not be reached, or
 * dropped the connection before answering": the same failures this agent
 * retries when it sees them itself, reported across the hop.
 */
const PEER_SAYS_RETRY = new Set<string>([AgentErrorCodes.APP_UNREACHABLE, AgentErrorCodes.APP_RESET]);

/**
 * The outbound listener: the app's way into the mesh. It resolves the
 * service from the request, picks an endpoint round robin and forwards to
 * that endpoint's agent.
 *
 * A request without a body and with an idempotent method is tried again on
 * a different endpoint when the first one cannot be connected to, resets, or
 * its agent says its app could not be reached or reset: in each case the app
 * either never saw the request or, the method being idempotent, may safely
 * see it twice. That is what lets a dead
 * instance cost no failed requests while the control plane is still noticing.
 */
export class OutboundListener {
  readonly #o: OutboundOptions;
  /** Read once: the access-log object is not even built per request unless debug is on. */
  readonly #debug: boolean;
  readonly server: Server;

  constructor(options: OutboundOptions) {
    this.#o = options;
    this.#debug = options.log.isLevelEnabled('debug');
    // requireHostHeader off: a request without Host gets our JSON 400 that says what to send.
    this.server = createServer({ keepAliveTimeout: 5_000, requireHostHeader: false }, (req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound request failed unexpectedly');
        sendJsonError(res, 500, AgentErrorCodes.UPSTREAM_UNREACHABLE, 'internal error in the agent');
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = requestTarget(req);
    if (!target) {
      sendJsonError(res, 400, AgentErrorCodes.BAD_REQUEST, 'name the service: send an absolute URL (curl -x) or a Host header');
      return;
    }
    const table = this.#o.table();
    if (!table) {
      sendJsonError(res, 503, AgentErrorCodes.NO_ROUTING_TABLE, 'the agent has no routing table yet: it has not reached the control plane and none is persisted in its dataDir', { service: target.service });
      return;
    }
    const service = table.service(target.service);
    if (!service) {
      sendJsonError(res, 404, AgentErrorCodes.UNKNOWN_SERVICE, `service "${target.service}" is not in the routing table (version ${table.version}); known services: ${table.serviceNames().join(', ') || 'none'}`, { service: target.service });
      return;
    }
    if (service.endpoints.length === 0) {
      sendJsonError(res, 503, AgentErrorCodes.NO_HEALTHY_ENDPOINT, `service "${target.service}" has no healthy endpoint in routing table version ${table.version}`, { service: target.service });
      return;
    }

    const replayable = isIdempotent(req.method) && !hasBody(req);
    const attempts = replayable ? this.#o.maxAttempts : 1;
    const headers = upstreamHeaders(req.headers, target.service);
    const signal = new ClientGone(res);
    const tried = new Set<string>();
    const failures: string[] = [];

    for (let attempt = 0; attempt < attempts; attempt++) {
      const endpoint = service.balancer.pick(tried);
      if (!endpoint) break;
      tried.add(endpoint.id);
      const last = attempt === attempts - 1;
      try {
        const upstream = await this.#o.pools.get(endpoint.host, endpoint.port).request({
          method: req.method as 'GET',
          path: target.path,
          headers,
          body: replayable ? null : req,
          signal,
          headersTimeout: this.#o.requestTimeoutMs,
          bodyTimeout: this.#o.requestTimeoutMs,
        });
        const peerError = upstream.headers[ERROR_HEADER];
        if (!last && replayable && typeof peerError === 'string' && PEER_SAYS_RETRY.has(peerError)) {
          await upstream.body.dump();
          failures.push(`${endpoint.id}: its agent says ${peerError}`);
          continue;
        }
        await relay(upstream, res);
        if (this.#debug) this.#o.log.debug({ service: service.name, endpoint: endpoint.id, status: upstream.statusCode, attempt }, 'outbound');
        return;
      } catch (e) {
        const kind = failureKind(e);
        if (kind === 'aborted') return;
        if (kind === 'timeout') {
          sendJsonError(res, 504, AgentErrorCodes.UPSTREAM_TIMEOUT, `endpoint ${endpoint.id} of "${service.name}" did not answer within ${this.#o.requestTimeoutMs} ms`, { service: service.name, endpoint: endpoint.id });
          return;
        }
        failures.push(`${endpoint.id}: ${(e as Error).message}`);
        this.#o.log.debug({ service: service.name, endpoint: endpoint.id, err: (e as Error).message, kind }, 'outbound attempt failed');
        if (kind !== 'connect' && kind !== 'reset') break;
      }
    }
    sendJsonError(res, 502, AgentErrorCodes.UPSTREAM_UNREACHABLE, `no endpoint of "${service.name}" could be reached (${failures.join('; ')})`, { service: service.name, attempts: failures.length });
  }
}
