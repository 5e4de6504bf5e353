import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '@meshlet/shared';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { Subscriptions, WaitingClient } from '../control/subscriptions.js';
import { AgentErrors } from '../errors.js';
import type { RouteTable } from '../route/route-table.js';
import { type Destination, type Refusal, resolveDestination } from '../route/destination.js';
import { sendJsonError } from './json-error.js';
import type { InFlightAttempts } from './in-flight-attempts.js';
import type { OriginPools } from './origin-pools.js';
import { type RequestTarget, requestTarget } from './request-target.js';
import { accessLine, type ForwardState } from './access-line.js';
import { forwardUpgrade } from './outbound-upgrade.js';
import { refuseUpgrade } from './upgrade-tunnel.js';
import { admitRequest } from './admit-request.js';
import { attemptEndpoint } from './attempt-endpoint.js';
import { sniffPreface } from './h2/sniff-preface.js';
import { closedWithServer, trackH2Sessions } from './server-lifecycle.js';
import { drainingUnreadBodies, H2_SERVER_SETTINGS, isH2Request } from './h2/h2-server-settings.js';
import { forwardH2, type H2ForwardContext } from './h2/forward-h2.js';
import { forwardHttp1 } from './forward-http1.js';
import { H2Sessions } from './h2/h2-sessions.js';
import { ConnectTunnels } from './connect-tunnel.js';
import type { PassThrough } from './pass-through.js';

/** The service a CONNECT tunnel named, kept on the tunnelled socket: every request inside it is for that service. */
const TUNNEL_SERVICE = Symbol('meshlet.tunnelService');

/** Options of {@link OutboundListener}. */
export interface OutboundOptions {
  table: () => RouteTable | undefined;
  pools: OriginPools;
  stats: EndpointStatsMap;
  log: Logger;
  random: () => number;
  clock: () => number;
  /** A dedicated upstream port: every request goes to this service, whatever its Host. */
  service?: string;
  /** Subscribes to services learned from requests, and holds those requests for the table; absent: unknown services get 404 at once. */
  subscriptions?: Subscriptions;
  /** Where the access log goes, one info line per request (see `AccessLine`); absent: no access log. */
  accessLog?: Logger | undefined;
  /** Resendable attempts, given up when their endpoint is declared gone (see `InFlightAttempts`). */
  inFlight?: InFlightAttempts | undefined;
  /** HTTP/2 requests' way to other agents (see `forwardH2`); absent: cleartext sessions of the listener's own. */
  h2?: H2ForwardContext | undefined;
  /** `outboundTrafficPolicy.mode: allow-any`: hosts outside the mesh are passed through; absent: `registry-only` (404). */
  passThrough?: PassThrough | undefined;
}

/**
 * The outbound listener: the app's way into the mesh. It resolves the
 * service from the request, applies the service's routing rules, rate
 * limit, fault injection and circuit breaker, picks an endpoint with the
 * service's balancer (tiers, zones and panic first) and forwards to that
 * endpoint's agent, retrying elsewhere when that is safe.
 *
 * Which attempts are retried, where to and after what wait: see
 * {@link decideRetry}.
 */
export class OutboundListener {
  readonly #o: OutboundOptions;
  /** The listener's server: HTTP/1.1, and the connections of every protocol arrive at it (see {@link acceptConnection}). */
  readonly server: Server;
  /** Cleartext HTTP/2 (prior knowledge): connections whose first bytes are the HTTP/2 preface are handed to it. */
  readonly h2: Http2Server;
  readonly #http1: (socket: Socket) => void;
  readonly #h2: H2ForwardContext;

  constructor(options: OutboundOptions) {
    this.#o = options;
    this.#h2 = {
      ...(options.h2 ?? { ...options, sessions: new H2Sessions(options.log) }),
      // An endpoint whose agent speaks HTTP/1.1 only: through the pools, as HTTP/1.1 requests go.
      http1: (endpoint, service, request, timeouts, res, accept) =>
        attemptEndpoint(
          this.#o,
          endpoint,
          {
            ...request,
            method: request.method as 'GET',
            headersTimeout: timeouts.requestMs,
            bodyTimeout: timeouts.requestMs,
          },
          res,
          timeouts,
          accept,
          service,
        ),
    };
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound request failed unexpectedly');
        sendJsonError(res, AgentErrors.UPSTREAM_UNREACHABLE('internal error in the agent', { statusCode: 500 }));
      });
    };
    // requireHostHeader off: a request without Host gets our JSON 400 that says what to send.
    this.server = createServer({ requireHostHeader: false }, handle);
    // The compatibility API's request and response stand in for HTTP/1.1's where routing and refusals read them.
    this.h2 = createH2Server({ settings: H2_SERVER_SETTINGS }, drainingUnreadBodies(handle) as never);
    trackH2Sessions(this.server, this.h2);
    const server = this.server;
    const http1 = server.listeners('connection')[0] as (socket: Socket) => void;
    server.removeListener('connection', http1);
    this.#http1 = (socket) => http1.call(server, socket);
    server.on('connection', (socket: Socket) => this.acceptConnection(socket));
    // Routed before the client sends its body: an unknown service gets its 404 and no 100 (see #handle).
    this.server.on('checkContinue', handle);
    const tunnels = new ConnectTunnels({
      ...options,
      accept: (socket, service) => this.acceptConnection(socket, service),
      hold: (socket) => socket.once('close', closedWithServer(this.server, socket)),
    });
    this.server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      tunnels.handle(req, socket, head).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound CONNECT failed unexpectedly');
        socket.destroy();
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(req, socket, head).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound upgrade failed unexpectedly');
        socket.destroy();
      });
    });
  }

  /**
   * Takes a client connection: HTTP/1.1 or, by its first bytes, cleartext
   * HTTP/2. `tunnelService`: the connection is the inside of a CONNECT
   * tunnel to that service, and every request on it goes there whatever
   * its Host says.
   */
  acceptConnection(socket: Socket, tunnelService?: string): void {
    if (tunnelService !== undefined) (socket as Socket & { [TUNNEL_SERVICE]?: string })[TUNNEL_SERVICE] = tunnelService;
    const known = closedWithServer(this.server, socket);
    sniffPreface(socket, this.server.headersTimeout, (protocol) => {
      known();
      // No Nagle: HTTP/2's small frames (a unary call's answer, WINDOW_UPDATE) must not wait for an ACK.
      if (protocol === 'h2') this.h2.emit('connection', socket.setNoDelay(true));
      else this.#http1(socket);
    });
  }

  #target(req: IncomingMessage): RequestTarget | undefined {
    const service = this.#o.service ?? (req.socket as Socket & { [TUNNEL_SERVICE]?: string })[TUNNEL_SERVICE];
    if (service === undefined) return requestTarget(req);
    // The service is the port's or the tunnel's; an absolute-form request still sends only its path and query on.
    const url = req.url ?? '/';
    return { service, path: url.startsWith('/') ? url : (requestTarget(req)?.path ?? '/') };
  }

  /**
   * One request, from routing to its access line: the target, the
   * destination ({@link #resolve}), the gates of {@link admitRequest} (rate
   * limit, fault injection, circuit breaker), then the forward: HTTP/2
   * requests over HTTP/2 sessions ({@link forwardH2}), HTTP/1.1 ones through
   * the pools ({@link forwardHttp1}). One async function for all of it: each
   * async layer was one more promise and one more microtask per request, and
   * routing and admission wait for nothing on nearly every request.
   */
  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const state: ForwardState = { traceId: undefined, requestId: undefined, endpoint: undefined, retries: 0 };
    const target = this.#target(req);
    try {
      if (!target) {
        sendJsonError(
          res,
          AgentErrors.BAD_REQUEST('name the service: send an absolute URL (curl -x) or a Host header'),
        );
        return;
      }
      let d: Destination | Refusal | undefined = resolveDestination(this.#o.table(), req, target, this.#o.table);
      if ('refusal' in d) d = await this.#awaitService(req, target, res, d);
      if (d === undefined) return;
      if ('refusal' in d) {
        if (this.#outsideMesh(req, target)) await this.#o.passThrough?.request(req, res);
        else sendJsonError(res, d.refusal, d.extra);
        return;
      }
      const svc = d.svc;
      // In flight and timed from here: the request is the service's now.
      svc.metrics.started();
      try {
        let release = admitRequest(res, d, this.#o.random);
        if (release !== undefined && typeof release !== 'function') release = await release;
        if (!release) return;
        const h2 = isH2Request(req);
        // Routed and admitted: now the client may send its body (a 100 from the app could not come back through the
        // agents' pools, which buffer the body for retries; see docs/data-plane.md).
        if (!h2 && /100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
        try {
          if (h2) await forwardH2(this.#h2, req, res, target, d, state);
          else await forwardHttp1(this.#o, req, res, target, d, state);
        } finally {
          release();
        }
      } finally {
        svc.metrics.finished((performance.now() - started) / 1000);
      }
    } finally {
      const access = this.#o.accessLog;
      if (access?.isLevelEnabled('info'))
        access.info(accessLine(req, res, target, state, performance.now() - started), 'outbound request');
    }
  }

  /**
   * Where a request for `target` goes. When it is refused because its
   * service is not in the table, subscribe to the service and wait for a
   * table that has it (see {@link Subscriptions}), then resolve again;
   * undefined when the client left meanwhile.
   */
  async #resolve(
    req: IncomingMessage,
    target: RequestTarget,
    client: WaitingClient,
  ): Promise<Destination | Refusal | undefined> {
    const d = resolveDestination(this.#o.table(), req, target, this.#o.table);
    return 'refusal' in d ? this.#awaitService(req, target, client, d) : d;
  }

  /** A request refused with `refused`: if its service is not in the table, waits for it as {@link #resolve} says. */
  async #awaitService(
    req: IncomingMessage,
    target: RequestTarget,
    client: WaitingClient,
    refused: Refusal,
  ): Promise<Destination | Refusal | undefined> {
    const subs = this.#o.subscriptions;
    if (subs === undefined || this.#o.table()?.service(target.service) !== undefined) return refused;
    const wait = subs.wait(target.service, client);
    if (wait === undefined) return refused;
    return (await wait) === 'gone' ? undefined : resolveDestination(this.#o.table(), req, target, this.#o.table);
  }

  /** Whether a refused request names a host outside the mesh that `allow-any` passes through (never on a dedicated port or in a tunnel). */
  #outsideMesh(req: IncomingMessage, target: RequestTarget): boolean {
    const table = this.#o.table();
    return (
      this.#o.passThrough !== undefined &&
      // HTTP/2 is never passed through (the pass-through relays HTTP/1.1): an outside host is reached with CONNECT.
      !isH2Request(req) &&
      this.#o.service === undefined &&
      (req.socket as Socket & { [TUNNEL_SERVICE]?: string })[TUNNEL_SERVICE] === undefined &&
      table !== undefined &&
      table.service(target.service) === undefined
    );
  }

  /** WebSocket and other upgrades: routed like a request (subscription wait included), then tunnelled (see {@link forwardUpgrade}). */
  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const target = this.#target(req);
    if (!target) {
      refuseUpgrade(socket, AgentErrors.BAD_REQUEST('name the service: send an absolute URL or a Host header'));
      return;
    }
    const d = await this.#resolve(req, target, socket);
    if (d === undefined) return;
    if ('refusal' in d) {
      if (this.#outsideMesh(req, target)) await this.#o.passThrough?.upgrade(req, socket, head);
      else refuseUpgrade(socket, d.refusal, d.extra);
      return;
    }
    await forwardUpgrade(req, socket, head, target, d, this.#o.pools);
  }
}
