import { Pool } from 'undici';

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

  /**
   * The pool for `host:port` with these connect and idle timeouts (the
   * service's or a route's): one pool per origin and pair of timeouts, so
   * that a route with a shorter connect timeout gets connections made with
   * it. A pool lives until its origin leaves the routing table.
   */
  get(host: string, port: number, timeouts: { connectMs: number; idleMs: number }): Pool {
    const key = `${host}:${port}|${timeouts.connectMs}|${timeouts.idleMs}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(originOf(host, port), {
        connect: { timeout: timeouts.connectMs },
        keepAliveTimeout: timeouts.idleMs,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools of origins not in `keep` (`host:port` keys); in-flight requests finish first. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (keep.has(key.slice(0, key.indexOf('|')))) continue;
      this.#pools.delete(key);
      pool.close().catch(() => undefined);
    }
  }

  /** Closes every pool. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}
