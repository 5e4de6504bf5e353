import type { Observations } from '@meshlet/shared';

/** What a service's callers saw over the window, as the dashboard shows it. */
export interface ServiceStatsView {
  /** Attempts per second, summed over every caller (to 0.01). */
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

/** One caller's report about one service: when it arrived and the span it covers. */
interface Entry {
  at: number;
  spanMs: number;
  requests: number;
  failed: number;
  p99Ms: number | null;
}

/**
 * Request rate, error ratio and p99 latency per service, from the reports
 * callers send about once a second (`observations`), over a sliding window.
 * No agent metrics need scraping for the dashboard.
 *
 * The rate is each caller's requests divided by the time its reports in
 * the window cover (each report says how long it covers, `windowMs`),
 * summed over callers. Dividing the window's count by the window's length
 * instead reads low: the reports that arrived within the last 10 s cover
 * the 10 s up to the newest of them, not up to now, and the one being
 * gathered is not in yet (a steady 100 req/s read as 90, issue 17). A
 * caller that goes quiet sends no report (nothing to say): the time since
 * its last report beyond one report's span counts as covered with no
 * requests, so its rate falls away as Prometheus' `rate()` would, rather
 * than holding its last figure until the window forgets it.
 */
export class ServiceStats {
  readonly #windowMs: number;
  readonly #clock: () => number;
  /** Per service, per caller: its reports within the window, oldest first. */
  readonly #entries = new Map<string, Map<string, Entry[]>>();

  constructor(windowMs = 10_000, clock: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#clock = clock;
  }

  /**
   * Adds one caller's report. `known` filters its endpoints: only those of
   * instances the control plane knows are counted, so that a caller cannot
   * make up services. `caller` (its agent id) keeps each caller's reports
   * apart, so that each one's rate is taken over the span its own reports cover.
   */
  record(report: Observations, known: (service: string, id: string) => boolean = () => true, caller = ''): void {
    const now = this.#clock();
    const byService = new Map<string, Entry>();
    for (const o of report.endpoints) {
      if (!known(o.service, o.id)) continue;
      let e = byService.get(o.service);
      if (!e) {
        e = { at: now, spanMs: report.windowMs, requests: 0, failed: 0, p99Ms: null };
        byService.set(o.service, e);
      }
      e.requests += o.ok + o.failed;
      e.failed += o.failed;
      const p99 = o.latencyP99Ms ?? o.latencyMs;
      if (p99 !== undefined && (e.p99Ms === null || p99 > e.p99Ms)) e.p99Ms = p99;
    }
    for (const [service, e] of byService) {
      let callers = this.#entries.get(service);
      if (!callers) {
        callers = new Map();
        this.#entries.set(service, callers);
      }
      const list = callers.get(caller);
      if (list) {
        list.push(e);
        this.#prune(list, now);
      } else callers.set(caller, [e]);
    }
  }

  /** The service's figures over the window, or undefined when no caller reported on it within it. */
  view(service: string): ServiceStatsView | undefined {
    const callers = this.#entries.get(service);
    if (!callers) return undefined;
    const now = this.#clock();
    let rps = 0;
    let requests = 0;
    let failed = 0;
    let p99Ms: number | null = null;
    for (const [caller, list] of callers) {
      this.#prune(list, now);
      const last = list.at(-1);
      if (last === undefined) {
        callers.delete(caller);
        continue;
      }
      let callerRequests = 0;
      let spanMs = 0;
      for (const e of list) {
        callerRequests += e.requests;
        spanMs += e.spanMs;
        failed += e.failed;
        if (e.p99Ms !== null && (p99Ms === null || e.p99Ms > p99Ms)) p99Ms = e.p99Ms;
      }
      // A report later than one of its own spans means a quiet caller (or a lost report): count the gap as quiet.
      spanMs += Math.max(0, now - last.at - last.spanMs);
      requests += callerRequests;
      if (spanMs > 0) rps += callerRequests / (spanMs / 1000);
    }
    if (callers.size === 0) {
      this.#entries.delete(service);
      return undefined;
    }
    return {
      rps: Math.round(rps * 100) / 100,
      errorRatio: requests > 0 ? failed / requests : null,
      p99Ms,
      windowMs: this.#windowMs,
    };
  }

  /** Forgets services and callers nobody reported on within the window (call now and then). */
  prune(): void {
    const now = this.#clock();
    for (const [service, callers] of this.#entries) {
      for (const [caller, list] of callers) {
        this.#prune(list, now);
        if (list.length === 0) callers.delete(caller);
      }
      if (callers.size === 0) this.#entries.delete(service);
    }
  }

  /** Drops the reports that arrived `windowMs` or longer ago. */
  #prune(list: Entry[], now: number): void {
    const oldest = now - this.#windowMs;
    let n = 0;
    while (n < list.length && (list[n] as Entry).at <= oldest) n++;
    if (n > 0) list.splice(0, n);
  }
}
