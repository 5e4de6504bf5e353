import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Endpoint, Logger } from '@meshlet/shared';
import type { PickContext } from '../balancer/balancer.js';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { Subscriptions, WaitingClient } from '../control/subscriptions.js';
import { AgentErrorCodes, CIRCUIT_HEADER } from '../errors.js';
import { decideFault } from '../resilience/fault-injector.js';
import { retryDelay } from '../resilience/retry-backoff.js';
import { requestHash } from '../route/request-hash.js';
import type { RouteTable } from '../route/route-table.js';
import { type Destination, resolveDestination } from '../route/destination.js';
import { failureKind, isIdempotent } from './http-relay.js';
import { sendJsonError } from './json-error.js';
import type { OriginPools } from './origin-pools.js';
import { NO_BODY, readBody } from './request-body.js';
import { dispatchRelay, rawUpstreamHeaders } from './relay-handler.js';
import { type RequestTarget, requestTarget } from './request-target.js';
import { accessLine, type ForwardState } from './access-line.js';
import { addTraceContextRaw } from './trace-context.js';
import { forwardUpgrade } from './outbound-upgrade.js';
import { refuseUpgrade } from './upgrade-tunnel.js';

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
}


/**
 * Answers from a peer agent that mean "my app never saw the request": safe
 * to send elsewhere whatever the method.
 */
const PEER_NEVER_SENT = AgentErrorCodes.APP_UNREACHABLE;
/** A peer agent's "my app dropped the connection": retried like a reset. */
const PEER_RESET = AgentErrorCodes.APP_RESET;

/**
 * The outbound listener: the app's way into the mesh. It resolves the
 * service from the request, applies the service's routing rules, rate
 * limit, fault injection and circuit breaker, picks an endpoint with the
 * service's balancer (tiers, zones and panic first) and forwards to that
 * endpoint's agent, retrying elsewhere when that is safe.
 *
 * Which failures are retried, and why:
 * - could not connect, or the peer agent says its app could not be reached:
 *   the request never reached an app, so any method is safe to resend;
 * - a reset, the peer's app reset, or a status in `retries.statuses`: the
 *   app may have acted, so only idempotent methods (or all, with
 *   `retries.nonIdempotent`);
 * - never a timeout: the app is slow, and asking another instance doubles
 *   the load exactly when the service is struggling.
 * Every retry goes to an endpoint not yet tried for the request (spilling to
 * the next tier when a tier is used up), waits a jittered exponential
 * backoff, needs the body buffered (at most `retries.maxBufferBytes`) and
 * needs a token from the retry budget, so that retries cannot multiply the
 * load of an outage.
 */
export class OutboundListener {
  readonly #o: OutboundOptions;
  readonly server: Server;

  constructor(options: OutboundOptions) {
    this.#o = options;
    // requireHostHeader off: a request without Host gets our JSON 400 that says what to send.
    this.server = createServer({ keepAliveTimeout: 5_000, requireHostHeader: false }, (req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound request failed unexpectedly');
        sendJsonError(res, 500, AgentErrorCodes.UPSTREAM_UNREACHABLE, 'internal error in the agent');
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(req, socket, head).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'outbound upgrade failed unexpectedly');
        socket.destroy();
      });
    });
  }

  #target(req: IncomingMessage): RequestTarget | undefined {
    return this.#o.service ? { service: this.#o.service, path: req.url ?? '/' } : requestTarget(req);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const state: ForwardState = { traceId: undefined, requestId: undefined, endpoint: undefined, retries: 0 };
    const target = this.#target(req);
    try {
      await this.#route(req, res, target, state, started);
    } finally {
      const access = this.#o.accessLog;
      if (access?.isLevelEnabled('info')) access.info(accessLine(req, res, target, state, performance.now() - started), 'outbound request');
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, target: RequestTarget | undefined, state: ForwardState, started: number): Promise<void> {
    if (!target) {
      sendJsonError(res, 400, AgentErrorCodes.BAD_REQUEST, 'name the service: send an absolute URL (curl -x) or a Host header');
      return;
    }
    let d = resolveDestination(this.#o.table(), req, target);
    if ('refusal' in d) {
      const waited = await this.#awaitSubscription(target.service, res);
      if (waited === 'gone') return;
      if (waited === 'route') d = resolveDestination(this.#o.table(), req, target);
      if ('refusal' in d) {
        sendJsonError(res, d.status, d.refusal, d.message, d.extra);
        return;
      }
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

  /** The service's rate limit, fault injection and circuit breaker, then {@link #forward}. */
  async #guard(req: IncomingMessage, res: ServerResponse, target: RequestTarget, d: Destination, state: ForwardState): Promise<void> {
    const { svc, dest } = d;
    if (svc.limiter && !svc.limiter.tryTake()) {
      sendJsonError(res, 429, AgentErrorCodes.RATE_LIMITED, `the local rate limit of "${svc.name}" (${svc.policy.rateLimit?.requestsPerSecond} requests per second) is exhausted; retry later`, { service: svc.name });
      return;
    }
    const faults = svc.policy.faultInjection;
    if (faults) {
      const f = decideFault(faults, this.#o.random);
      if (f.delayMs > 0) await sleep(f.delayMs);
      if (f.abortStatus !== undefined) {
        sendJsonError(res, f.abortStatus, AgentErrorCodes.FAULT_INJECTED, `fault injection of "${svc.name}" aborted this request (a drill: remove faultInjection from the policy to stop it)`, { service: svc.name });
        return;
      }
    }

    let release = dest.breaker.tryAcquireSync();
    if (!release) {
      const got = await dest.breaker.acquire(d.timeouts.requestMs || 15_000);
      if (typeof got !== 'function') {
        dest.metrics.circuitOpen();
        if (!res.headersSent) res.setHeader(CIRCUIT_HEADER, got.open);
        sendJsonError(res, 503, AgentErrorCodes.CIRCUIT_OPEN, `the circuit breaker of "${dest.name}" is open (${got.open}): ${dest.policy.circuitBreaker.maxConcurrent} requests in flight and ${dest.policy.circuitBreaker.maxPending} waiting at most`, { service: dest.name, reason: got.open });
        return;
      }
      release = got;
    }
    try {
      await this.#forward(req, res, target, d, state);
    } finally {
      release();
    }
  }

  async #forward(req: IncomingMessage, res: ServerResponse, target: RequestTarget, d: Destination, state: ForwardState): Promise<void> {
    const { svc, dest, lb, retries, timeouts } = d;
    const o = this.#o;
    const method = req.method ?? 'GET';
    const headers = rawUpstreamHeaders(req, target.service);
    const ids = addTraceContextRaw(headers);
    state.traceId = ids.traceId;
    state.requestId = ids.requestId;
    const body = headers.hasBody ? await readBody(req, retries.maxBufferBytes) : NO_BODY;
    const methodRetryable = isIdempotent(method) || retries.nonIdempotent;
    const attempts = 1 + (body.replayable ? retries.maxRetries : 0);
    const tried = new Set<string>();
    const hashKey = dest.policy.balancer.hashKey;
    const pick: PickContext = { exclude: tried, hash: hashKey ? requestHash(req, target.path, hashKey) : undefined };
    const failures: string[] = [];
    let budgetExhausted = false;
    svc.budget.onRequest();
    // The endpoint for the next attempt, chosen when deciding to retry: a
    // retry is only worth declining an answer for when another endpoint
    // exists, and only then does it spend a token of the budget.
    let next: Endpoint | undefined;
    const mayRetry = (attempt: number): boolean => {
      if (attempt + 1 >= attempts) return false;
      next = lb.pick(pick);
      if (!next) return false;
      if (svc.budget.tryAcquire()) return true;
      next = undefined;
      budgetExhausted = true;
      svc.metrics.budgetExhausted();
      return false;
    };
    const request = {
      method: method as 'GET',
      path: target.path,
      headers,
      body: body.body,
      headersTimeout: timeouts.requestMs,
      bodyTimeout: timeouts.requestMs,
    };

    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) {
        const wait = retryDelay(attempt - 1, retries, o.random);
        if (wait > 0 && !(await this.#backoff(wait, res))) return;
        if (res.destroyed) return;
      }
      const endpoint = next ?? lb.pick(pick);
      next = undefined;
      if (!endpoint) break;
      if (attempt > 0) {
        svc.metrics.retry();
        state.retries++;
      }
      state.endpoint = endpoint.id;
      tried.add(endpoint.id);
      const stats = o.stats.get(endpoint.id);
      stats.active++;
      const started = performance.now();
      // Time to the answer's headers, for the balancer's EWMA and the observations; -1 while none came.
      let answeredMs = -1;
      const canRetry = body.replayable && attempt + 1 < attempts;
      const outcome = await dispatchRelay(o.pools.get(endpoint.host, endpoint.port, timeouts), request, res, {
        fromApp: false,
        headersDeadlineMs: timeouts.requestMs,
        onHeaders: () => {
          answeredMs = performance.now() - started;
          stats.observe(answeredMs, o.clock());
        },
        // Decides, before anything reaches the client, whether this answer is retried instead.
        accept: (status, peer) => {
          if (!canRetry) return true;
          let retryable: boolean;
          if (peer === undefined) retryable = methodRetryable && retries.statuses.includes(status);
          else if (peer === PEER_NEVER_SENT) retryable = true;
          else if (peer === PEER_RESET) retryable = methodRetryable;
          // The peer's own timeout (or any other error of the peer agent) is not retried: see above.
          else retryable = false;
          return !(retryable && mayRetry(attempt));
        },
      });
      stats.active--;
      if (outcome.kind === 'relayed') {
        dest.metrics.attempt(endpoint.id, outcome.status);
        dest.outcome(endpoint.id, outcome.status >= 500, answeredMs);
        return;
      }
      if (outcome.kind === 'declined') {
        dest.metrics.attempt(endpoint.id, outcome.status);
        dest.outcome(endpoint.id, outcome.status >= 500, answeredMs);
        failures.push(`${endpoint.id}: answered ${outcome.status}${outcome.peerError ? ` ${outcome.peerError}` : ''}`);
        continue;
      }
      const e = outcome.error;
      const kind = failureKind(e);
      // A client that left says nothing about the endpoint.
      if (kind === 'aborted' || res.destroyed) return;
      dest.metrics.attempt(endpoint.id, -1);
      dest.outcome(endpoint.id, true);
      if (outcome.headersSent) {
        res.destroy();
        return;
      }
      if (kind === 'timeout') {
        sendJsonError(res, 504, AgentErrorCodes.UPSTREAM_TIMEOUT, `endpoint ${endpoint.id} of "${dest.name}" did not answer within ${timeouts.requestMs} ms`, { service: dest.name, endpoint: endpoint.id });
        return;
      }
      failures.push(`${endpoint.id}: ${e.message}`);
      if (o.log.isLevelEnabled('debug')) o.log.debug({ service: dest.name, endpoint: endpoint.id, err: e.message, kind, attempt }, 'outbound attempt failed');
      const retryable = body.replayable && (kind === 'connect' || (kind === 'reset' && methodRetryable));
      if (retryable && mayRetry(attempt)) continue;
      break;
    }
    if (failures.length === 0) {
      sendJsonError(res, 503, AgentErrorCodes.NO_HEALTHY_ENDPOINT, `service "${dest.name}" has no healthy endpoint to send to (routing table version ${d.version})`, { service: dest.name });
      return;
    }
    const why = budgetExhausted ? '; the retry budget is exhausted, so no more retries were made' : '';
    sendJsonError(res, 502, AgentErrorCodes.UPSTREAM_UNREACHABLE, `no endpoint of "${dest.name}" could be reached (${failures.join('; ')})${why}`, { service: dest.name, attempts: failures.length });
  }

  /**
   * A request was refused: when that is because its service is not in the
   * table, subscribe to it and wait for a table that has it (see
   * {@link Subscriptions}). `none`: no wait, answer the refusal now;
   * `route`: resolve again; `gone`: the client left.
   */
  async #awaitSubscription(service: string, client: WaitingClient): Promise<'none' | 'route' | 'gone'> {
    const subs = this.#o.subscriptions;
    if (subs === undefined || this.#o.table()?.service(service) !== undefined) return 'none';
    const wait = subs.wait(service, client);
    return wait === undefined ? 'none' : await wait;
  }

  /** Waits out a retry backoff; false when the client left meanwhile. */
  #backoff(ms: number, res: ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        res.off('close', gone);
        resolve(ok);
      };
      const gone = () => done(false);
      const timer = setTimeout(() => done(true), ms);
      res.once('close', gone);
    });
  }

  /** WebSocket and other upgrades: routed like a request (subscription wait included), then tunnelled (see {@link forwardUpgrade}). */
  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const target = this.#target(req);
    if (!target) {
      refuseUpgrade(socket, 400, AgentErrorCodes.BAD_REQUEST, 'name the service: send an absolute URL or a Host header');
      return;
    }
    let d = resolveDestination(this.#o.table(), req, target);
    if ('refusal' in d) {
      const waited = await this.#awaitSubscription(target.service, socket);
      if (waited === 'gone') return;
      if (waited === 'route') d = resolveDestination(this.#o.table(), req, target);
      if ('refusal' in d) {
        refuseUpgrade(socket, d.status, d.refusal, d.message);
        return;
      }
    }
    await forwardUpgrade(req, socket, head, target, d);
  }
}

