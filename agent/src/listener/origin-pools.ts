import { Pool } from 'undici';
import type { MtlsConnector } from './mtls-connector.js';

/** Formats `host:port` as an origin, bracketing IPv6 literals. */
export function originOf(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/**
 * One undici keep-alive pool per upstream origin, created on first use and
 * closed when a new routing table no longer names the origin.
 */
export class OriginPools {
  readonly #pools = new Map<string, Pool>();
  readonly #mtls: MtlsConnector | undefined;

  readonly #unsubscribe: (() => void) | undefined;

  /**
   * With `mtls` (the agent holds a workload identity), endpoints that speak
   * mTLS are called with it; when the agent's own certificate expires, their
   * pools are closed (their keep-alive connections carry it), so that the
   * next call says why it cannot be made.
   */
  constructor(mtls?: MtlsConnector) {
    this.#mtls = mtls;
    // Pools made with a replaced certificate are retired at once (in-flight requests finish; new ones get new
    // connections with the new certificate), so the callee never has to cut a busy connection at the old one's
    // expiry; and every mTLS pool goes when the agent's certificate expired unrenewed.
    const offExpired = mtls?.onExpired(() => this.#closeMtlsPools());
    const offRenewed = mtls?.onRenewed(() => this.#closeMtlsPools());
    this.#unsubscribe = () => {
      offExpired?.();
      offRenewed?.();
    };
  }

  /**
   * The pool for `host:port` with these connect and idle timeouts (the
   * service's or a route's): one pool per origin and pair of timeouts, so
   * that a route with a shorter connect timeout gets connections made with
   * it. A pool lives until its origin leaves the routing table.
   *
   * An endpoint that speaks mTLS (`mtls`), called by an agent with a
   * workload identity, gets a pool of its own per service expected behind
   * it, whose connections check that the callee is that service. It is never
   * called in plaintext: while the agent has no certificate yet (or its own
   * expired), connecting fails with `MESHLET_IDENTITY_UNAVAILABLE` (failure
   * kind `identity`: answered 503 at once, neither retried nor counted
   * against the endpoint, whose fault it is not), since a downgrade would
   * reach a permissive callee without an identity. A handshake the callee
   * refuses is a connect failure, retried elsewhere. Only an agent without
   * an identity calls in plaintext.
   */
  get(
    host: string,
    port: number,
    timeouts: { connectMs: number; idleMs: number },
    callee?: { service: string; mtls: boolean },
  ): Pool {
    const mtls = callee?.mtls === true && this.#mtls !== undefined ? callee.service : undefined;
    const key = `${host}:${port}|${timeouts.connectMs}|${timeouts.idleMs}${mtls === undefined ? '' : `|mtls ${mtls}`}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(originOf(host, port), {
        connect:
          mtls === undefined || this.#mtls === undefined
            ? { timeout: timeouts.connectMs }
            : this.#mtls.connectorFor(mtls, timeouts.connectMs),
        keepAliveTimeout: timeouts.idleMs,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * How a tunnel (an upgrade) reaches an endpoint of `service`: an mTLS
   * connection when the endpoint speaks it and the agent has an identity
   * (the `MESHLET_IDENTITY_UNAVAILABLE` error while it has no valid
   * certificate: the tunnel fails, never downgrades), else undefined
   * (plaintext, as the pools decide).
   */
  tunnelSocket(endpoint: { host: string; port: number; mtls?: boolean | undefined }, service: string) {
    if (endpoint.mtls !== true || this.#mtls === undefined) return undefined;
    const mtls = this.#mtls;
    return () => mtls.connect(service, endpoint.host, endpoint.port);
  }

  /** Closes the pools of origins not in `keep` (`host:port` keys); in-flight requests finish first. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (keep.has(key.slice(0, key.indexOf('|')))) continue;
      this.#pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  /** Closes the mTLS pools; in-flight requests finish first, new ones go to new pools. */
  #closeMtlsPools(): void {
    for (const [key, pool] of this.#pools) {
      if (!key.includes('|mtls ')) continue;
      this.#pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  /** Closes every pool, and the connector (the pools' own: it stops following the identity). */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    this.#mtls?.close();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
