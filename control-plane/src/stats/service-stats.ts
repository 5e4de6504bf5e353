import type { Observations } from '@meshlet/shared';

/** What a service's callers saw over the window, as the dashboard shows it. */
export interface ServiceStatsView {
  /** Attempts per second, summed over every caller. */
  rps: number;
  /** Failed attempts over all attempts; null without traffic. */
  errorRatio: number | null;
  /**
   * The highest p99 latency any caller reported for any of the service's
   * endpoints in the window: an upper bound of the service's p99 (p99s of
   * separate histograms cannot be merged exactly); null without traffic.
   */
  p99Ms: number | null;
  windowMs: number;
}

interface Bucket {
  second: number;
  requests: number;
  failed: number;
  p99Ms: number | null;
}

/**
 * Request rate, error ratio and p99 latency per service, from the reports
 * callers send about once a second (`observations`), in one-second buckets
 * over a sliding window. No agent metrics need scraping for the dashboard.
 */
export class ServiceStats {
  readonly #windowMs: number;
  readonly #clock: () => number;
  readonly #buckets = new Map<string, Bucket[]>();

  constructor(windowMs = 10_000, clock: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /**
   * Adds one caller's report. `known` filters its endpoints: only those of
   * instances the control plane knows are counted, so that a caller cannot
   * make up services.
   */
  record(report: Observations, known: (service: string, id: string) => boolean = () => true): void {
    const second = Math.floor(this.#clock() / 1000);
    for (const o of report.endpoints) {
      if (!known(o.service, o.id)) continue;
      let list = this.#buckets.get(o.service);
      if (!list) {
        list = [];
        this.#buckets.set(o.service, list);
      }
      let b = list.at(-1);
      if (!b || b.second !== second) {
        b = { second, requests: 0, failed: 0, p99Ms: null };
        list.push(b);
        this.#prune(list, second);
      }
      b.requests += o.ok + o.failed;
      b.failed += o.failed;
      const p99 = o.latencyP99Ms ?? o.latencyMs;
      if (p99 !== undefined && (b.p99Ms === null || p99 > b.p99Ms)) b.p99Ms = p99;
    }
  }

  /** The service's figures over the window, or undefined when no caller reported on it within it. */
  view(service: string): ServiceStatsView | undefined {
    const list = this.#buckets.get(service);
    if (!list) return undefined;
    this.#prune(list, Math.floor(this.#clock() / 1000));
    if (list.length === 0) {
      this.#buckets.delete(service);
      return undefined;
    }
    let requests = 0;
    let failed = 0;
    let p99Ms: number | null = null;
    for (const b of list) {
      requests += b.requests;
      failed += b.failed;
      if (b.p99Ms !== null && (p99Ms === null || b.p99Ms > p99Ms)) p99Ms = b.p99Ms;
    }
    return {
      rps: requests / (this.#windowMs / 1000),
      errorRatio: requests > 0 ? failed / requests : null,
      p99Ms,
      windowMs: this.#windowMs,
    };
  }

  /** Forgets services nobody reported on within the window (call now and then). */
  prune(): void {
    const second = Math.floor(this.#clock() / 1000);
    for (const [service, list] of this.#buckets) {
      this.#prune(list, second);
      if (list.length === 0) this.#buckets.delete(service);
    }
  }

  #prune(list: Bucket[], second: number): void {
    const oldest = second - Math.ceil(this.#windowMs / 1000) + 1;
    while (list.length > 0 && (list[0] as Bucket).second < oldest) list.shift();
  }
}
