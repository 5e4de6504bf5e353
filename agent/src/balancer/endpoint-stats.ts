import { PeakEwma } from '@meshlet/shared';

/** Decay time of the latency average until a peak_ewma balancer sets its policy's: the policy default. */
const DEFAULT_DECAY_MS = 10_000;

/**
 * Live stats of one endpoint, as this agent sees it: requests in flight and
 * a peak-EWMA latency estimate. The proxy updates them; the load-aware
 * balancers read them.
 */
export class EndpointStats {
  /**
   * Requests in flight, incremented and decremented by the caller. Keep the
   * object you incremented and decrement that one: the map may have dropped
   * the id in between.
   */
  active = 0;
  /**
   * Decay time of the latency average, ms. A peak_ewma balancer sets it to
   * its policy's `ewmaDecayMs` when it is built, so that one map can serve
   * services with different policies.
   */
  decayMs: number;
  readonly #ewma = new PeakEwma();

  constructor(decayMs = DEFAULT_DECAY_MS) {
    this.decayMs = decayMs;
  }

  /** Records the latency of a finished attempt, measured at `now` (ms, the balancers' clock). */
  observe(latencyMs: number, now: number): void {
    this.#ewma.observe(latencyMs, now, this.decayMs);
  }

  /** Peak-EWMA latency estimate in ms at `now`; `defaultMs` before any observation. */
  latency(now: number, defaultMs: number): number {
    return this.#ewma.estimate(now, this.decayMs) ?? defaultMs;
  }
}

/** Options of an {@link EndpointStatsMap}. */
export interface EndpointStatsMapOptions {
  /** Decay time of the latency average of new entries, ms (see {@link EndpointStats.decayMs}). Default 10 000. */
  decayMs?: number;
}

/**
 * The {@link EndpointStats} of every endpoint by id, shared by all the
 * balancers of an agent and kept across routing tables, so that a new table
 * does not forget what is in flight or how slow an endpoint has been.
 */
export class EndpointStatsMap {
  readonly #byId = new Map<string, EndpointStats>();
  readonly #decayMs: number;

  constructor(options: EndpointStatsMapOptions = {}) {
    this.#decayMs = options.decayMs ?? DEFAULT_DECAY_MS;
  }

  /** The stats of `id`, created empty on first use. */
  get(id: string): EndpointStats {
    let s = this.#byId.get(id);
    if (s === undefined) {
      s = new EndpointStats(this.#decayMs);
      this.#byId.set(id, s);
    }
    return s;
  }

  /** Drops the stats of every id not in `ids` (endpoints gone from the routing table). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#byId.keys()) if (!ids.has(id)) this.#byId.delete(id);
  }

  /** Number of endpoints with stats. */
  get size(): number {
    return this.#byId.size;
  }
}
