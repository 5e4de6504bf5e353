import type { EndpointObservation, Observations } from '@meshlet/shared';

/**
 * Most endpoints one report carries: well under the schema's 10000, so that a
 * report (about 120 bytes per endpoint) stays below the control plane's
 * default 1 MiB message limit.
 */
export const MAX_OBSERVED_ENDPOINTS = 4000;

/** Largest count the schema accepts; a window that saw more reports this many. */
const MAX_COUNT = 2 ** 31;
/** Largest latency and window the schema accepts, ms. */
const MAX_LATENCY_MS = 3_600_000;
const MAX_WINDOW_MS = 600_000;

/** Upper bound of the first latency bucket, ms; each next bucket's bound doubles. */
const FIRST_BUCKET_MS = 0.5;
/**
 * Latency buckets per endpoint: bounds 0.5 ms to 262 s, doubling, and one
 * for anything slower. Coarse on purpose: the control plane compares
 * endpoints and callers, and doubling buckets with interpolation inside one
 * put a p99 within a few tens of percent for 21 counters and no allocation.
 */
export const LATENCY_BUCKETS = 21;

/** The bucket a latency falls in: `latency <= 0.5 * 2^i`, the last one open-ended. */
function bucketOf(latencyMs: number): number {
  if (latencyMs <= FIRST_BUCKET_MS) return 0;
  return Math.min(LATENCY_BUCKETS - 1, Math.ceil(Math.log2(latencyMs / FIRST_BUCKET_MS)));
}

/**
 * The 99th percentile of the latencies counted in `buckets` (`answered` in
 * all, the slowest `maxMs`): the bucket holding the rank-`ceil(0.99 n)`
 * latency, interpolated linearly inside it, and never above the slowest seen.
 */
export function latencyP99(buckets: Uint32Array, answered: number, maxMs: number): number {
  const rank = Math.ceil(answered * 0.99);
  let below = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] as number;
    if (n === 0 || below + n < rank) {
      below += n;
      continue;
    }
    const lower = i === 0 ? 0 : FIRST_BUCKET_MS * 2 ** (i - 1);
    const upper = i === buckets.length - 1 ? maxMs : FIRST_BUCKET_MS * 2 ** i;
    return Math.min(maxMs, lower + ((upper - lower) * (rank - below)) / n);
  }
  return maxMs;
}

/** Counts of one endpoint in the current window; zeroed, not dropped, after a report so that steady traffic allocates nothing. */
interface Counter {
  ok: number;
  failed: number;
  /** Attempts that got an answer (status line), failed or not, and the sum of their latencies. */
  answered: number;
  latencySumMs: number;
  /** The answered attempts by latency bucket (see {@link LATENCY_BUCKETS}), and the slowest. */
  buckets: Uint32Array;
  latencyMaxMs: number;
  /** Outlier detection ejected the endpoint during the window. */
  ejected: boolean;
}

/** Where the outbound path reports the outcome of each attempt. */
export interface OutcomeSink {
  /**
   * One attempt on endpoint `id` of `service`. `failed` is the outlier
   * detector's verdict; `latencyMs` is the time to the answer's headers, or
   * a negative number when no answer came.
   */
  record(service: string, id: string, failed: boolean, latencyMs: number): void;
  /** Outlier detection just ejected endpoint `id` of `service`. */
  ejected(service: string, id: string): void;
}

/**
 * Per (service, endpoint) outcomes of this agent's outbound attempts since
 * the last report: the "gossip" the control plane combines, across callers,
 * into endpoint health. Recording is on the hot path: two map lookups and a
 * few increments, keyed by service then id so that no key string is built.
 */
export class ObservationRecorder implements OutcomeSink {
  readonly #byService = new Map<string, Map<string, Counter>>();
  #recorded = false;
  #lastReport: number;

  /** `now`: the clock reading the first window starts at. */
  constructor(now: number) {
    this.#lastReport = now;
  }

  record(service: string, id: string, failed: boolean, latencyMs: number): void {
    const c = this.#counter(service, id);
    if (failed) c.failed++;
    else c.ok++;
    if (latencyMs >= 0) {
      c.answered++;
      c.latencySumMs += latencyMs;
      (c.buckets[bucketOf(latencyMs)] as number)++;
      if (latencyMs > c.latencyMaxMs) c.latencyMaxMs = latencyMs;
    }
    this.#recorded = true;
  }

  ejected(service: string, id: string): void {
    this.#counter(service, id).ejected = true;
    this.#recorded = true;
  }

  #counter(service: string, id: string): Counter {
    let byId = this.#byService.get(service);
    if (byId === undefined) {
      byId = new Map();
      this.#byService.set(service, byId);
    }
    let c = byId.get(id);
    if (c === undefined) {
      c = {
        ok: 0,
        failed: 0,
        answered: 0,
        latencySumMs: 0,
        buckets: new Uint32Array(LATENCY_BUCKETS),
        latencyMaxMs: 0,
        ejected: false,
      };
      byId.set(id, c);
    }
    return c;
  }

  /**
   * Ends the window at `now`: the report of what was recorded since the last
   * call (`undefined` when nothing was), and every counter starts again from
   * zero. The caller sends the report or, when not connected, drops it: old
   * counts would mislead the control plane about an endpoint's present.
   */
  take(now: number): Observations | undefined {
    const windowMs = Math.min(MAX_WINDOW_MS, Math.max(1, Math.round(now - this.#lastReport)));
    this.#lastReport = now;
    if (!this.#recorded) return undefined;
    this.#recorded = false;
    const endpoints: EndpointObservation[] = [];
    for (const [service, byId] of this.#byService) {
      for (const [id, c] of byId) {
        if (c.ok === 0 && c.failed === 0 && !c.ejected) {
          // Quiet for a whole window: forget it, so that endpoints gone from the table do not pile up.
          byId.delete(id);
          continue;
        }
        if (endpoints.length < MAX_OBSERVED_ENDPOINTS) {
          const o: EndpointObservation = {
            service,
            id,
            ok: Math.min(c.ok, MAX_COUNT),
            failed: Math.min(c.failed, MAX_COUNT),
          };
          if (c.answered > 0) {
            o.latencyMs = Math.min(MAX_LATENCY_MS, Math.round((c.latencySumMs / c.answered) * 10) / 10);
            o.latencyP99Ms = Math.min(
              MAX_LATENCY_MS,
              Math.round(latencyP99(c.buckets, c.answered, c.latencyMaxMs) * 10) / 10,
            );
          }
          if (c.ejected) o.ejected = true;
          endpoints.push(o);
        }
        c.ok = 0;
        c.failed = 0;
        c.answered = 0;
        c.latencySumMs = 0;
        if (c.latencyMaxMs > 0 || c.buckets[0] !== 0) c.buckets.fill(0);
        c.latencyMaxMs = 0;
        c.ejected = false;
      }
      if (byId.size === 0) this.#byService.delete(service);
    }
    return { type: 'observations', windowMs, endpoints };
  }
}
