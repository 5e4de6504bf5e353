import { type ClientHttp2Session, connect as h2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Endpoint, Logger } from '@meshlet/shared';
import type { MtlsConnector } from '../mtls-connector.js';
import { originOf } from '../origin-pools.js';
import { useFastAsyncBind } from './fast-async-bind.js';

/** The code of a session to an agent that does not speak HTTP/2 (it chose HTTP/1.1 in ALPN). */
export const H2_UNSUPPORTED_CODE = 'ERR_MESHLET_H2_UNSUPPORTED';

/** How long an endpoint whose agent chose HTTP/1.1 is called that way before HTTP/2 is offered again. */
const HTTP1_ONLY_MEMORY_MS = 60_000;

function http1Only(endpoint: H2Endpoint): Error & { code: string } {
  return Object.assign(new Error(`the agent at ${endpoint.host}:${endpoint.port} does not speak HTTP/2 (ALPN)`), {
    code: H2_UNSUPPORTED_CODE,
  });
}

/** What an endpoint needs to be called over HTTP/2. */
export type H2Endpoint = Pick<Endpoint, 'host' | 'port' | 'mtls'>;

/**
 * One HTTP/2 session per callee endpoint (and service expected behind it),
 * shared by every HTTP/2 request to it: many streams, one connection, as
 * Linkerd and Envoy keep between proxies. An endpoint that speaks mTLS is
 * reached over the agents' TLS with ALPN `h2` (see `MtlsConnector`: the
 * callee must prove to be the service); others over cleartext HTTP/2. A
 * session that closes, fails or is told to go away is forgotten (its
 * streams finish) and the next request makes a new one. Sessions made with
 * a replaced or expired certificate of the agent's own are closed
 * gracefully, as the HTTP/1.1 pools are.
 */
export class H2Sessions {
  readonly #sessions = new Map<string, Promise<ClientHttp2Session>>();
  /** Endpoints whose agent chose HTTP/1.1 in ALPN, until when (`performance.now()`): not asked again before. */
  readonly #http1Only = new Map<string, number>();
  readonly #mtls: MtlsConnector | undefined;
  readonly #log: Logger;
  readonly #unsubscribe: () => void;

  constructor(log: Logger, mtls?: MtlsConnector) {
    // Every stream of a session pays for AsyncResource.bind: see useFastAsyncBind.
    useFastAsyncBind();
    this.#log = log;
    this.#mtls = mtls;
    const offExpired = mtls?.onExpired(() => this.#closeMtls());
    const offRenewed = mtls?.onRenewed(() => this.#closeMtls());
    this.#unsubscribe = () => {
      offExpired?.();
      offRenewed?.();
    };
  }

  /**
   * The session to `endpoint` for `service`, connected within `connectMs`
   * (and its idle connection closed after `idleMs`); rejects with the
   * error of the connect or handshake (codes as `failureKind` reads them).
   */
  get(
    endpoint: H2Endpoint,
    service: string,
    timeouts: { connectMs: number; idleMs: number },
  ): Promise<ClientHttp2Session> {
    const mtls = endpoint.mtls === true && this.#mtls !== undefined;
    const key = `${endpoint.host}:${endpoint.port}|${mtls ? `mtls ${service}` : ''}`;
    let session = this.#sessions.get(key);
    const http1Until = this.#http1Only.get(key);
    if (session === undefined && http1Until !== undefined) {
      if (http1Until > performance.now()) return Promise.reject(http1Only(endpoint));
      this.#http1Only.delete(key);
    }
    if (session === undefined) {
      session = this.#connect(endpoint, service, mtls, timeouts).then((s) => {
        const forget = (): void => {
          if (this.#sessions.get(key) === session) this.#sessions.delete(key);
        };
        s.once('close', forget);
        s.once('goaway', forget);
        s.on('error', forget);
        // Idle: no stream for idleMs (a stream's frames keep it busy); closed gracefully, its streams finish.
        s.setTimeout(timeouts.idleMs, () => {
          forget();
          s.close();
        });
        return s;
      });
      session.catch((e: { code?: string }) => {
        if (this.#sessions.get(key) === session) this.#sessions.delete(key);
        if (e.code === H2_UNSUPPORTED_CODE) this.#http1Only.set(key, performance.now() + HTTP1_ONLY_MEMORY_MS);
      });
      this.#sessions.set(key, session);
    }
    return session;
  }

  async #connect(
    endpoint: H2Endpoint,
    service: string,
    mtls: boolean,
    timeouts: { connectMs: number },
  ): Promise<ClientHttp2Session> {
    const origin = originOf(endpoint.host, endpoint.port);
    if (mtls) {
      const connector = (this.#mtls as MtlsConnector).connectorFor(service, timeouts.connectMs, ['h2', 'http/1.1']);
      const socket = await new Promise<TLSSocket>((resolve, reject) => {
        connector({ hostname: endpoint.host, port: String(endpoint.port) } as never, (err, s) =>
          err ? reject(err) : resolve(s as TLSSocket),
        );
      });
      if (socket.alpnProtocol !== 'h2') {
        socket.destroy();
        throw http1Only(endpoint);
      }
      return this.#session(h2Connect(origin, { createConnection: () => socket }));
    }
    // No Nagle (the mTLS connector sets it too): small frames go at once.
    const session = h2Connect(origin, {
      createConnection: () => netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true }),
    });
    const timer = setTimeout(() => {
      session.destroy(
        Object.assign(new Error(`connect timeout after ${timeouts.connectMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
      );
    }, timeouts.connectMs);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
      });
    } finally {
      clearTimeout(timer);
    }
    return this.#session(session);
  }

  #session(session: ClientHttp2Session): ClientHttp2Session {
    session.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'HTTP/2 session to an agent failed'));
    return session;
  }

  /** Closes the sessions to origins not in `keep` (`host:port` keys); their streams finish first. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, session] of this.#sessions) {
      if (keep.has(key.slice(0, key.indexOf('|')))) continue;
      this.#sessions.delete(key);
      session.then(
        (s) => s.close(),
        () => undefined,
      );
    }
  }

  #closeMtls(): void {
    for (const [key, session] of this.#sessions) {
      if (!key.includes('|mtls ')) continue;
      this.#sessions.delete(key);
      session.then(
        (s) => s.close(),
        () => undefined,
      );
    }
  }

  /** Closes every session (their streams finish) and stops following the identity. */
  async close(): Promise<void> {
    this.#unsubscribe();
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(
      all.map((p) => p.then((s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.close(() => resolve()))))),
    );
  }
}
