import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2Session,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { AppProtocol, Logger } from '@meshlet/shared';
import type { Pool } from 'undici';
import { authorizeInbound, decideInbound, type InboundAuthzContext } from '../authz/authorize-inbound.js';
import { AgentErrors } from '../errors.js';
import { type AgentMetrics, CODE_CLASSES, codeClass, type CodeClass } from '../metrics.js';
import { failureKind } from '../resilience/failure-kind.js';
import { appRequestHeaders, CALLER_HEADER } from './caller-headers.js';
import type { InboundMtls } from './inbound-mtls.js';
import { RelayHandler, type RelayOptions } from './relay-handler.js';
import { sendJsonError } from './json-error.js';
import { refuseUpgrade, tunnelUpgrade } from './upgrade-tunnel.js';
import { AppSession } from './h2/app-session.js';
import { relayToApp, toAppOverH2 } from './h2/inbound-h2.js';
import { relayHttp1ToH2App } from './h2/http1-to-h2-app.js';
import { drainingUnreadBodies, H2_SERVER_SETTINGS, isH2Request } from './h2/h2-server-settings.js';
import { sniffPreface } from './h2/sniff-preface.js';
import { closedWithServer, trackH2Sessions } from './server-lifecycle.js';

/** The relay's options for every answer from the app: it may not speak as an agent (`x-meshlet-error`). */
const FROM_APP: RelayOptions = Object.freeze({ fromApp: true });

/** Options of {@link InboundListener}. */
export interface InboundOptions {
  /** Pool to the local app. */
  app: Pool;
  appName: string;
  /** Where the app listens, for upgrades (which bypass the pool). */
  appHost: string;
  appPort: number;
  log: Logger;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** The agent's metrics; absent: none are kept. */
  metrics?: Pick<AgentMetrics, 'inboundRequests' | 'inboundDuration'> | undefined;
  /**
   * Mutual TLS (the agent holds a workload identity): makes the TLS side,
   * given the HTTP server's own way to take a connection. Absent: plaintext
   * only, as before identities.
   */
  mtls?: ((handOff: (socket: Socket) => void) => InboundMtls) | undefined;
  /** The service's authorization policy, applied to every request and upgrade; absent: none is applied. */
  authz?: InboundAuthzContext | undefined;
  /** The protocol the app speaks, from its service's policy (see `toAppOverH2`); absent: learned per request. */
  appProtocol?: (() => AppProtocol | undefined) | undefined;
}

/**
 * The inbound listener: other agents' way to the local app. When the app
 * cannot be connected to (`MESHLET_APP_UNREACHABLE`) or drops the connection
 * before answering (`MESHLET_APP_RESET`), the answer says so, and the
 * calling agent may send an idempotent request to another instance, just as
 * it would had it seen the failure itself.
 */
export class InboundListener {
  readonly #o: InboundOptions;
  readonly server: Server;
  /** Label children resolved once: a request costs one increment and one observation. */
  readonly #requests: Record<CodeClass, { inc(): void }> | undefined;
  readonly #duration: { observe(seconds: number): void } | undefined;
  readonly #mtls: InboundMtls | undefined;
  /** HTTP/2 from other agents: connections that chose `h2` in ALPN, or plaintext ones opening with its preface. */
  readonly h2: Http2Server;
  readonly #app: AppSession;
  /** The connection under each HTTP/2 session (its caller's identity is kept by connection). */
  readonly #sessionSockets = new WeakMap<Http2Session, Socket>();

  constructor(options: InboundOptions) {
    this.#o = options;
    const m = options.metrics;
    if (m) {
      const requests = m.inboundRequests;
      this.#requests = Object.fromEntries(CODE_CLASSES.map((c) => [c, requests.labels(c)])) as Record<
        CodeClass,
        { inc(): void }
      >;
      this.#duration = m.inboundDuration;
    }
    const handle = (req: IncomingMessage, res: ServerResponse): void => {
      try {
        this.#handle(req, res);
      } catch (e) {
        this.#unexpected(e, res);
      }
    };
    this.server = createServer(handle);
    this.h2 = createH2Server({ settings: H2_SERVER_SETTINGS }, drainingUnreadBodies(handle) as never);
    this.#app = new AppSession(options.appHost, options.appPort, options.connectTimeoutMs);
    trackH2Sessions(this.server, this.h2);
    const server = this.server;
    const httpConnection = server.listeners('connection')[0] as (socket: Socket) => void;
    server.removeListener('connection', httpConnection);
    let handing: Socket | undefined;
    this.h2.on('session', (session: Http2Session) => {
      if (handing !== undefined) this.#sessionSockets.set(session, handing);
    });
    const toH2 = (socket: Socket): void => {
      // No Nagle: HTTP/2's small frames (a unary call's answer, WINDOW_UPDATE) must not wait for an ACK.
      socket.setNoDelay(true);
      handing = socket;
      this.h2.emit('connection', socket);
      handing = undefined;
    };
    // An mTLS caller chose its protocol in ALPN; a plaintext one says it with its first bytes.
    const handOff = (socket: Socket | TLSSocket): void => {
      if ((socket as TLSSocket).encrypted) {
        if ((socket as TLSSocket).alpnProtocol === 'h2') toH2(socket);
        else httpConnection.call(server, socket);
        return;
      }
      const known = closedWithServer(server, socket);
      sniffPreface(socket, server.headersTimeout, (p) => {
        known();
        if (p === 'h2') toH2(socket);
        else httpConnection.call(server, socket);
      });
    };
    if (options.mtls) {
      // Every accepted connection goes through the TLS side first, which hands it back to HTTP.
      this.#mtls = options.mtls(handOff);
      const mtls = this.#mtls;
      server.on('connection', (socket: Socket) => mtls.accept(socket));
    } else server.on('connection', handOff);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      if (this.#mtls && !this.#mtls.admits(req.socket)) {
        refuseUpgrade(socket, this.#mtlsRequired());
        return;
      }
      const caller = this.#mtls?.callerOf(req.socket);
      const authz = options.authz && decideInbound(options.authz, caller, req);
      if (authz?.error) {
        refuseUpgrade(socket, authz.error);
        return;
      }
      tunnelUpgrade(req, socket, head, {
        host: options.appHost,
        port: options.appPort,
        path: req.url ?? '/',
        connectTimeoutMs: options.connectTimeoutMs,
        stripIdentityHeaders: true,
        ...(caller === undefined ? {} : { extraHeaders: { [CALLER_HEADER]: caller } }),
      })
        .then((r) => {
          if (!r.ok)
            refuseUpgrade(
              socket,
              AgentErrors.APP_UNREACHABLE(`cannot connect to the local app ${options.appName}: ${r.error.message}`),
            );
        })
        .catch(() => socket.destroy());
    });
  }

  /** Stops following the workload identity, and closes the HTTP/2 session to the app. */
  close(): void {
    this.#mtls?.close();
    this.#app.close();
  }

  /** The connection a request came on: an HTTP/2 request's is its session's. */
  #socketOf(req: IncomingMessage): Socket {
    if (!isH2Request(req)) return req.socket;
    const session = (req as unknown as Http2ServerRequest).stream.session;
    return (session && this.#sessionSockets.get(session)) ?? req.socket;
  }

  #mtlsRequired() {
    return AgentErrors.MTLS_REQUIRED(
      `this service accepts mutual TLS only (mtls.mode: strict): call it through a meshlet agent that holds a workload certificate, or set the service's mtls.mode to permissive while callers migrate`,
    );
  }

  /**
   * One request. The HTTP/1.1 relay to the app, nearly every request, runs
   * on callbacks from the dispatch handler: no promise or async frame per
   * request (see docs/benchmarks.md, "Inbound hot path"); HTTP/2 to the app
   * keeps its async path.
   */
  #handle(req: IncomingMessage, res: ServerResponse): void {
    const socket = this.#socketOf(req);
    const mtls = this.#mtls;
    if (mtls && !mtls.admits(socket)) {
      res.shouldKeepAlive = false;
      sendJsonError(res, this.#mtlsRequired());
      this.#requests?.['4xx'].inc();
      return;
    }
    const caller = mtls?.callerOf(socket);
    if (this.#o.authz && !authorizeInbound(this.#o.authz, caller, req, res)) {
      this.#requests?.[codeClass(res.statusCode)].inc();
      return;
    }
    const started = this.#requests ? performance.now() : 0;
    const protocol = this.#o.appProtocol?.();
    if (toAppOverH2(req, protocol) || (!isH2Request(req) && protocol !== undefined && protocol !== 'http1')) {
      // catch after then: a throw while counting is handled too, not an unhandled rejection that ends the agent.
      this.#relayH2(req, res, caller)
        .then((status) => this.#count(status, started))
        .catch((e: unknown) => this.#unexpected(e, res));
      return;
    }
    const headers = appRequestHeaders(req, caller);
    const handler = new RelayHandler(res, FROM_APP, (outcome) => {
      try {
        this.#count(outcome.kind !== 'failed' ? outcome.status : this.#failed(outcome.error, res), started);
      } catch (e) {
        this.#unexpected(e, res);
      }
    });
    this.#o.app.dispatch(
      {
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers,
        body: headers.hasBody ? req : null,
        headersTimeout: this.#o.requestTimeoutMs,
        bodyTimeout: this.#o.requestTimeoutMs,
      },
      handler,
    );
  }

  /** Counts a relayed request by the app's status (negative: the app gave none, whatever the agent then answered). */
  #count(status: number, started: number): void {
    if (!this.#requests) return;
    this.#requests[codeClass(status)].inc();
    this.#duration?.observe((performance.now() - started) / 1000);
  }

  #unexpected(e: unknown, res: ServerResponse): void {
    this.#o.log.error({ err: e }, 'inbound request failed unexpectedly');
    sendJsonError(res, AgentErrors.UPSTREAM_UNREACHABLE('internal error in the agent', { statusCode: 500 }));
  }

  /** Relays to the app over HTTP/2; resolves with the app's status, or -1 when it gave none. */
  async #relayH2(req: IncomingMessage, res: ServerResponse, caller: string | undefined): Promise<number> {
    const h2 = isH2Request(req)
      ? await relayToApp(this.#app, req, res, caller, this.#o.requestTimeoutMs)
      : await relayHttp1ToH2App(this.#app, req, res, caller, this.#o.requestTimeoutMs);
    if (h2.kind !== 'failed') return h2.status;
    if (h2.headersSent) return -1;
    return this.#failed(h2.error, res);
  }

  /** Answers a relay to the app that got no answer, saying why; -1 (the app gave no status). */
  #failed(e: Error, res: ServerResponse): number {
    const kind = failureKind(e);
    if (kind === 'aborted') return -1;
    if (kind === 'connect') {
      sendJsonError(
        res,
        AgentErrors.APP_UNREACHABLE(`cannot connect to the local app ${this.#o.appName}: ${e.message}`),
      );
    } else if (kind === 'timeout') {
      sendJsonError(
        res,
        AgentErrors.UPSTREAM_TIMEOUT(
          `the local app ${this.#o.appName} did not answer within ${this.#o.requestTimeoutMs} ms`,
        ),
      );
    } else if (kind === 'reset') {
      sendJsonError(
        res,
        AgentErrors.APP_RESET(`the local app ${this.#o.appName} closed the connection before answering: ${e.message}`),
      );
    } else {
      sendJsonError(res, AgentErrors.UPSTREAM_UNREACHABLE(`the local app ${this.#o.appName} failed: ${e.message}`));
    }
    return -1;
  }
}
