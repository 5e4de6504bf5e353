import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint, Logger } from '@meshlet/shared';
import type { PickContext } from '../balancer/balancer.js';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { Subscriptions, WaitingClient } from '../control/subscriptions.js';
import { AgentErrors } from '../errors.js';
import {
  type AttemptOutcome,
  decideRetry,
  isIdempotent,
  type RetryDecision,
  retryDelay,
} from '../resilience/retry-policy.js';
import { requestHash } from '../route/request-hash.js';
import type { RouteTable } from '../route/route-table.js';
import { type Destination, type Refusal, resolveDestination } from '../route/destination.js';
import { rawUpstreamHeaders } from './hop-headers.js';
import { sendJsonError } from './json-error.js';
import type { InFlightAttempts } from './in-flight-attempts.js';
import type { OriginPools } from './origin-pools.js';
import { NO_BODY, readBody } from './request-body.js';
import { waitWhileConnected } from './wait-while-connected.js';
import { type RequestTarget, requestTarget } from './request-target.js';
import { accessLine, type ForwardState } from './access-line.js';
import { addTraceContextRaw } from './trace-context.js';
import { forwardUpgrade } from './outbound-upgrade.js';
import { refuseUpgrade } from './upgrade-tunnel.js';
import { admitRequest } from './admit-request.js';
import { attemptEndpoint } from './attempt-endpoint.js';
import { settleFailedAttempt } from './settle-failed-attempt.js';
import { sniffPreface } from './h2/sniff-preface.js';
import { sniffing, trackH2Sessions } from './server-lifecycle.js';
import { drainingUnreadBodies, H2_SERVER_SETTINGS, isH2Request } from './h2/h2-server-settings.js';
import { forwardH2, type H2ForwardContext } from './h2/forward-h2.js';
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
    // Routed before the client sends its body: an unknown service gets its 404 and no 100 (see #guard).
    this.server.on('checkContinue', handle);
    const tunnels = new ConnectTunnels({
      ...options,
      accept: (socket, service) => this.acceptConnection(socket, service),
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
    const known = sniffing(this.server, socket);
    sniffPreface(socket, this.server.headersTimeout, (protocol) => {
      known();
      // No Nagle: HTTP/2's small frames (a unary call's answer, WINDOW_UPDATE) must not wait for an ACK.
      if (protocol === 'h2') this.h2.emit('connection', socket.setNoDelay(true));
      else this.#http1(socket);
    });
  }

  #target(req: IncomingMessage): RequestTarget | undefined {
    const service = this.#o.service ?? (req.socket as Socket & { [TUNNEL_SERVICE]?: string })[TUNNEL_SERVICE];
    return service !== undefined ? { service, path: req.url ?? '/' } : requestTarget(req);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const state: ForwardState = { traceId: undefined, requestId: undefined, endpoint: undefined, retries: 0 };
    const target = this.#target(req);
    try {
      await this.#route(req, res, target, state, started);
    } finally {
      const access = this.#o.accessLog;
      if (access?.isLevelEnabled('info'))
        access.info(accessLine(req, res, target, state, performance.now() - started), 'outbound request');
    }
  }

  async #route(
    req: IncomingMessage,
    res: ServerResponse,
    target: RequestTarget | undefined,
    state: ForwardState,
    started: number,
  ): Promise<void> {
    if (!target) {
      sendJsonError(res, AgentErrors.BAD_REQUEST('name the service: send an absolute URL (curl -x) or a Host header'));
      return;
    }
    const d = await this.#resolve(req, target, res);
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
      await this.#guard(req, res, target, d, state);
    } finally {
      svc.metrics.finished((performance.now() - started) / 1000);
    }
  }

  /** The gates of {@link admitRequest} (rate limit, fault injection, circuit breaker), then {@link #forward}. */
  async #guard(
    req: IncomingMessage,
    res: ServerResponse,
    target: RequestTarget,
    d: Destination,
    state: ForwardState,
  ): Promise<void> {
    const release = await admitRequest(res, d, this.#o.random);
    if (!release) return;
    // Routed and admitted: now the client may send its body (a 100 from the app could not come back through the
    // agents' pools, which buffer the body for retries; see docs/data-plane.md).
    if (!isH2Request(req) && /100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
    try {
      await this.#forward(req, res, target, d, state);
    } finally {
      release();
    }
  }

  /**
   * Sends the request to one endpoint after another, asking the retry
   * policy ({@link decideRetry}) after every attempt that did not end the
   * request; every retry goes to an endpoint not yet tried for it (spilling
   * to the next tier when a tier is used up).
   */
  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    target: RequestTarget,
    d: Destination,
    state: ForwardState,
  ): Promise<void> {
    if (isH2Request(req)) {
      await forwardH2(this.#h2, req, res, target, d, state);
      return;
    }
    const { svc, dest, lb, retries, timeouts } = d;
    const o = this.#o;
    const headers = rawUpstreamHeaders(req, target.service);
    const ids = addTraceContextRaw(headers);
    state.traceId = ids.traceId;
    state.requestId = ids.requestId;
    const body = headers.hasBody ? await readBody(req, retries.maxBufferBytes) : NO_BODY;
    // May go again to another endpoint if its own is declared gone while it waits: an idempotent request only
    // (its first copy may still be running; nonIdempotent opts in to retries after a reset, not to certain duplicates).
    const resendable = body.replayable && isIdempotent(req.method);
    const lost = o.inFlight?.lost;
    const tried = new Set<string>();
    const hashKey = dest.policy.balancer.hashKey;
    const pick: PickContext = { exclude: tried, hash: hashKey ? requestHash(req, target.path, hashKey) : undefined };
    const failures: string[] = [];
    let budgetExhausted = false;
    svc.budget.onRequest();
    // The endpoint of the next attempt, picked when the policy asks whether there is one.
    let next: Endpoint | undefined;
    const question = {
      method: req.method ?? 'GET',
      replayable: body.replayable,
      settings: retries,
      anotherEndpoint: () => {
        // Endpoints declared gone since this request's selection was taken are not in it as such: skipped, unless
        // nothing else is left (panic mode serves every endpoint, and a retry must still move off a dead one).
        next =
          lost && lost.size > 0
            ? (lb.pick({ ...pick, exclude: new Set([...tried, ...lost]) }) ?? lb.pick(pick))
            : lb.pick(pick);
        return next !== undefined;
      },
      budget: () => {
        if (svc.budget.tryAcquire()) return true;
        budgetExhausted = true;
        svc.metrics.budgetExhausted();
        return false;
      },
    };
    const ask = (attempt: number, outcome: AttemptOutcome): RetryDecision =>
      decideRetry({ ...question, attempt, outcome });
    const request = {
      method: question.method as 'GET',
      path: target.path,
      headers,
      body: body.body,
      headersTimeout: timeouts.requestMs,
      bodyTimeout: timeouts.requestMs,
    };

    // Whether an attempt on `current`, given up now, could be retried: budget and another endpoint left.
    const canResend = (current: Endpoint | undefined): boolean => {
      if (!svc.budget.canAcquire()) return false;
      const exclude = new Set([...tried, ...(lost ?? []), ...(current ? [current.id] : [])]);
      return lb.pick({ ...pick, exclude }) !== undefined;
    };
    let endpoint = lb.pick(pick);
    for (let attempt = 0; endpoint !== undefined; attempt++) {
      if (attempt > 0) {
        svc.metrics.retry();
        state.retries++;
      }
      state.endpoint = endpoint.id;
      tried.add(endpoint.id);
      let decision: RetryDecision | undefined;
      // Before anything reaches the client: an answer the policy retries is declined.
      const accept = (status: number, peerError: string | undefined) =>
        !(decision = ask(attempt, { kind: 'status', status, peerError })).retry;
      const { outcome, answeredMs } = await attemptEndpoint(
        o,
        endpoint,
        request,
        res,
        timeouts,
        accept,
        dest.name,
        resendable && attempt < retries.maxRetries ? () => canResend(endpoint) : undefined,
      );
      if (outcome.kind !== 'failed') {
        dest.metrics.attempt(endpoint.id, outcome.status);
        dest.outcome(endpoint.id, outcome.status >= 500, answeredMs);
        if (outcome.kind === 'relayed') return;
        failures.push(`${endpoint.id}: answered ${outcome.status}${outcome.peerError ? ` ${outcome.peerError}` : ''}`);
      } else {
        const kind = settleFailedAttempt(outcome, endpoint, d, res);
        if (kind === undefined) return;
        failures.push(`${endpoint.id}: ${outcome.error.message}`);
        if (o.log.isLevelEnabled('debug'))
          o.log.debug(
            { service: dest.name, endpoint: endpoint.id, err: outcome.error.message, kind, attempt },
            'outbound attempt failed',
          );
        decision = ask(attempt, { kind: 'error', error: kind });
      }
      if (!decision?.retry) break;
      if (!(await waitWhileConnected(retryDelay(attempt, retries, o.random), res))) return;
      endpoint = next;
    }
    if (failures.length === 0) {
      sendJsonError(
        res,
        AgentErrors.NO_HEALTHY_ENDPOINT(
          `service "${dest.name}" has no healthy endpoint to send to (routing table version ${d.version})`,
        ),
        { service: dest.name },
      );
      return;
    }
    const why = budgetExhausted ? '; the retry budget is exhausted, so no more retries were made' : '';
    sendJsonError(
      res,
      AgentErrors.UPSTREAM_UNREACHABLE(`no endpoint of "${dest.name}" could be reached (${failures.join('; ')})${why}`),
      { service: dest.name, attempts: failures.length },
    );
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
    const d = resolveDestination(this.#o.table(), req, target);
    const subs = this.#o.subscriptions;
    if (!('refusal' in d) || subs === undefined || this.#o.table()?.service(target.service) !== undefined) return d;
    const wait = subs.wait(target.service, client);
    if (wait === undefined) return d;
    return (await wait) === 'gone' ? undefined : resolveDestination(this.#o.table(), req, target);
  }

  /** Whether a refused request names a host outside the mesh that `allow-any` passes through (never on a dedicated port or in a tunnel). */
  #outsideMesh(req: IncomingMessage, target: RequestTarget): boolean {
    const table = this.#o.table();
    return (
      this.#o.passThrough !== undefined &&
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
