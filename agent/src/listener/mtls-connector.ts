import { connect as tlsConnect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from '@meshlet/shared';
import { formatSpiffeId, spiffeServerCheck } from '@meshlet/shared/identity';
import type { buildConnector } from 'undici';
import { workloadTlsOptions } from '../identity/identity-tls.js';
import type { WorkloadCertificate, WorkloadIdentity } from '../identity/workload-identity.js';
import { AgentErrorCodes } from '../errors.js';
import type { AgentMetrics } from '../metrics.js';
import { HANDSHAKE_FAILED_CODE } from '../resilience/failure-kind.js';

/** What undici's pools and tunnels offer in ALPN: they speak HTTP/1.1 only. */
const HTTP1_ONLY: readonly string[] = ['http/1.1'];

/** Most TLS sessions kept for resumption (one per callee endpoint and expected identity). */
export const MAX_CACHED_SESSIONS = 1000;

/** The longest delay `setTimeout` takes (about 24.8 days); a later expiry is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link MtlsConnector}. */
export interface MtlsConnectorOptions {
  identity: WorkloadIdentity;
  log: Logger;
  metrics?: Pick<AgentMetrics, 'mtlsHandshakes'> | undefined;
  /** Wall clock (ms since the epoch), to tell an expired certificate of the agent's own; default `Date.now`. */
  clock?: (() => number) | undefined;
}

/**
 * Makes the mTLS connections of the outbound pools. Each connection reads
 * the identity when it is made, so a renewed certificate is used from the
 * next connection on, while the pooled keep-alive connections keep the one
 * they were made with. The callee must present a certificate chained to the
 * trust bundle whose SPIFFE ID names the service being called
 * (`spiffeServerCheck`).
 *
 * Sessions are resumed (a cheaper handshake on reconnect), but Node skips
 * `checkServerIdentity` on a resumed session, so the cache is keyed by the
 * SPIFFE ID the caller expects as well as the endpoint: a session is only
 * ever offered again for the identity it was checked against. undici's own
 * connector keys its cache by server name alone, and builds its TLS options
 * once, which is why this one is written here. The cache is dropped on
 * every identity change (a new bundle may no longer trust what a session
 * proved).
 */
export class MtlsConnector {
  readonly #o: MtlsConnectorOptions;
  readonly #sessions = new Map<string, Buffer>();
  #context: { certificate: WorkloadCertificate; secureContext: SecureContext } | undefined;
  readonly #expiredListeners = new Set<() => void>();
  readonly #changedListeners = new Set<() => void>();
  #expiryTimer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  constructor(options: MtlsConnectorOptions) {
    this.#o = options;
    this.#unsubscribe = options.identity.onChange(() => {
      this.#context = undefined;
      this.#sessions.clear();
      this.#armExpiry();
      for (const listener of this.#changedListeners) listener();
    });
    this.#armExpiry();
  }

  /**
   * Calls `listener` when the agent's own certificate expires (or the
   * identity changes to an expired one): connections made with it must not
   * be used any more. Returns a function that unsubscribes.
   */
  onExpired(listener: () => void): () => void {
    this.#expiredListeners.add(listener);
    return () => this.#expiredListeners.delete(listener);
  }

  /**
   * Calls `listener` after every change of the agent's identity (a renewal,
   * a new bundle): connections made with the certificate it replaced should
   * be retired before that certificate expires and the callee cuts them.
   * Returns a function that unsubscribes.
   */
  onRenewed(listener: () => void): () => void {
    this.#changedListeners.add(listener);
    return () => this.#changedListeners.delete(listener);
  }

  /** Stops following the identity. */
  close(): void {
    this.#unsubscribe();
    clearTimeout(this.#expiryTimer);
    this.#expiredListeners.clear();
    this.#changedListeners.clear();
  }

  /** Whether the agent has a certificate to call with. */
  get ready(): boolean {
    return this.#o.identity.current() !== undefined;
  }

  /**
   * A new mTLS connection to an endpoint of `service` at `host:port` (not yet
   * secure: wait for `secureConnect`), or, while the agent has no certificate
   * yet or its own expired, the error saying so (nothing is tried: peers
   * would refuse it). For tunnels (upgrades); pools use {@link connectorFor}.
   */
  connect(
    service: string,
    host: string,
    port: number,
    alpn: readonly string[] = HTTP1_ONLY,
  ): TLSSocket | IdentityUnavailableError {
    const unavailable = this.#unavailable();
    if (unavailable !== undefined) return unavailable;
    const context = this.#secureContext() as { certificate: WorkloadCertificate; secureContext: SecureContext };
    const { trustDomain } = context.certificate;
    const key = `${formatSpiffeId({ trustDomain, service })} ${host}:${port}`;
    const session = this.#sessions.get(key);
    const socket = tlsConnect({
      host,
      port,
      secureContext: context.secureContext,
      minVersion: 'TLSv1.3',
      ALPNProtocols: [...alpn],
      checkServerIdentity: spiffeServerCheck(trustDomain, service),
      ...(session === undefined ? {} : { session }),
    });
    socket.setNoDelay(true);
    socket.on('session', (s: Buffer) => this.#remember(key, s));
    // A session that failed to resume or a callee that refused must not be offered again.
    socket.once('error', () => this.#sessions.delete(key));
    return socket;
  }

  /**
   * An undici `connect` function for endpoints of `service`, with `connectMs` to complete the handshake;
   * `alpn`: the protocols offered (HTTP/2 sessions offer `h2` and check what was chosen).
   */
  connectorFor(service: string, connectMs: number, alpn: readonly string[] = HTTP1_ONLY): buildConnector.connector {
    return (options, callback) => {
      const key = `${service} ${options.hostname}:${options.port}`;
      const socket = this.connect(service, options.hostname, Number(options.port), alpn);
      if (socket instanceof Error) {
        callback(socket, null);
        return;
      }
      let settled = false;
      let connected = false;
      socket.once('connect', () => (connected = true));
      const timer = setTimeout(() => {
        socket.destroy(
          Object.assign(new Error(`connect timeout after ${connectMs} ms (mTLS)`), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
        );
      }, connectMs);
      const fail = (err: Error & { code?: string }): void => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        // A refused certificate is a handshake failure; a refused connection is not a handshake at all.
        if (connected && err.code !== 'UND_ERR_CONNECT_TIMEOUT') {
          this.#o.metrics?.mtlsHandshakes.labels('outbound', 'failed').inc();
          this.#o.log.warn(
            { err: err.message, code: err.code, service, endpoint: key },
            'outbound mTLS handshake failed',
          );
          // The callee refused or broke the handshake before any request byte left: a connect failure (retried
          // elsewhere, counted against this endpoint), whatever TLS called it (CERT_HAS_EXPIRED, ERR_SSL_*, a reset,
          // MESHLET_PEER_IDENTITY_REFUSED from spiffeServerCheck).
          callback(handshakeFailed(err, key), null);
          return;
        }
        callback(err, null);
      };
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        if (settled) return;
        settled = true;
        this.#o.metrics?.mtlsHandshakes.labels('outbound', 'ok').inc();
        callback(null, socket);
      });
    };
  }

  #secureContext(): { certificate: WorkloadCertificate; secureContext: SecureContext } | undefined {
    const certificate = this.#o.identity.current();
    if (certificate === undefined) return undefined;
    if (this.#context?.certificate !== certificate) {
      this.#context = { certificate, secureContext: createSecureContext(workloadTlsOptions(certificate)) };
    }
    return this.#context;
  }

  /**
   * Why the agent cannot call an mTLS endpoint, if it cannot: no certificate
   * yet, or its own expired (peers would refuse it, so no handshake is tried).
   */
  #unavailable(): IdentityUnavailableError | undefined {
    const certificate = this.#o.identity.current();
    if (certificate === undefined)
      return identityUnavailable(
        'this agent has no workload certificate yet to call an mTLS endpoint with (the control plane has not issued one: is it reachable?)',
      );
    if (certificate.notAfterMs > (this.#o.clock ?? Date.now)()) return undefined;
    return identityUnavailable(
      `this agent's workload certificate expired at ${new Date(certificate.notAfterMs).toISOString()} and was not renewed (is the control plane reachable?): peers refuse it`,
    );
  }

  /** Arms the timer that tells {@link onExpired} listeners when the current certificate expires. */
  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const certificate = this.#o.identity.current();
    if (certificate === undefined) return;
    const left = certificate.notAfterMs - (this.#o.clock ?? Date.now)();
    if (left <= 0) {
      for (const listener of this.#expiredListeners) listener();
      return;
    }
    this.#expiryTimer = setTimeout(() => this.#armExpiry(), Math.min(left, MAX_TIMER_MS));
    this.#expiryTimer.unref();
  }

  #remember(key: string, session: Buffer): void {
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    if (this.#sessions.size > MAX_CACHED_SESSIONS) {
      const oldest = this.#sessions.keys().next().value as string;
      this.#sessions.delete(oldest);
    }
  }
}

/** The agent's own identity cannot be used to call (code `MESHLET_IDENTITY_UNAVAILABLE`, failure kind `identity`). */
export type IdentityUnavailableError = Error & { code: typeof AgentErrorCodes.IDENTITY_UNAVAILABLE };

function identityUnavailable(message: string): IdentityUnavailableError {
  return Object.assign(new Error(message), { code: AgentErrorCodes.IDENTITY_UNAVAILABLE });
}

/** A handshake the callee at `endpoint` failed, as a connect failure keeping TLS's reason. */
function handshakeFailed(err: Error & { code?: string }, endpoint: string): Error {
  return Object.assign(
    new Error(`mTLS handshake with ${endpoint} failed: ${err.code ? `${err.code} ` : ''}${err.message}`, {
      cause: err,
    }),
    { code: HANDSHAKE_FAILED_CODE, tlsCode: err.code },
  );
}
