import type { Endpoint } from '@meshlet/shared';
import type { EndpointStatsMap } from './endpoint-stats.js';
import type { HashTableCache } from './hash-table-cache.js';

/** What a balancer knows about the request it picks for. */
export interface PickContext {
  /** Endpoints already tried for this request, so that a retry goes elsewhere. */
  exclude?: ReadonlySet<string>;
  /** 32-bit unsigned hash of the request's key; undefined: no key (hash balancers then pick at random) */
  hash?: number;
}

/**
 * Picks an endpoint for one attempt over a fixed endpoint list. Returns
 * `undefined` when no endpoint is left (the list is empty, or every endpoint
 * is in `ctx.exclude`). A pick is on the hot path of the proxy: it allocates
 * nothing on its common path.
 */
export interface Balancer {
  pick(ctx?: PickContext): Endpoint | undefined;
}

/** What a balancer is built with besides its endpoints and policy. */
export interface BalancerDeps {
  /** Uniform in [0, 1). */
  random: () => number;
  /** Milliseconds, monotonic preferred (such as `performance.now`). */
  clock: () => number;
  /**
   * Shared per-endpoint live stats (active requests, latency EWMA); survives
   * table changes. A balancer takes its endpoints' entries at construction,
   * so `retain` must keep the ids of every balancer still in use.
   */
  stats: EndpointStatsMap;
  /**
   * Effective weight of an endpoint right now (slow start ramps it); defaults
   * to `e.weight`. Leave it undefined when weights are static: the balancers
   * then precompute what they can, and the weighted ones skip a pass over
   * the endpoints per pick. The hash balancers ignore it: their tables must
   * be the same on every agent, so they use the declared weights.
   */
  weightOf?: (e: Endpoint) => number;
  /** Hash tables built ahead (in slices) for the hash balancers to take instead of building their own. */
  tables?: HashTableCache | undefined;
}
