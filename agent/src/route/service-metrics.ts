import type { Endpoint } from '@meshlet/shared';
import { type AgentMetrics, CODE_CLASSES, codeClass, type CodeClass } from '../metrics.js';

/**
 * The metric hooks of one service's outbound path. Called on the hot path:
 * each is an increment or one histogram observation on a label child
 * resolved once, never a label lookup built per request.
 */
export interface ServiceMetrics {
  /** An attempt on endpoint `id` ended with an answer of `status`, or with none (negative `status`). */
  attempt(id: string, status: number): void;
  /** A retry is being made. */
  retry(): void;
  /** A retry was wanted but the retry budget refused it. */
  budgetExhausted(): void;
  /** The circuit breaker refused a request. */
  circuitOpen(): void;
  /** Outlier detection ejected `count` more endpoints. */
  ejected(count: number): void;
  /** A request began; it is in flight until {@link finished}. */
  started(): void;
  /** A request that {@link started} ended, `seconds` after it began. */
  finished(seconds: number): void;
  /** The endpoints in the table now: the series of any other endpoint are removed. */
  retainEndpoints(endpoints: readonly Endpoint[]): void;
  /** The service left the table: its series are removed and later calls ignored. */
  close(): void;
}

/** The hooks when the agent keeps no metrics (unit tests, benchmarks). */
export const NULL_SERVICE_METRICS: ServiceMetrics = Object.freeze({
  attempt: () => undefined,
  retry: () => undefined,
  budgetExhausted: () => undefined,
  circuitOpen: () => undefined,
  ejected: () => undefined,
  started: () => undefined,
  finished: () => undefined,
  retainEndpoints: () => undefined,
  close: () => undefined,
});

type Inc = { inc(value?: number): void };

/**
 * {@link ServiceMetrics} on the agent's Prometheus registry. The label
 * children of each endpoint are made on its first attempt and dropped, with
 * their series, when it leaves the table, so the number of series follows the
 * table rather than growing with every endpoint ever seen. An attempt that
 * ends after its endpoint left is not counted: counting it would bring back a
 * series nothing would ever remove.
 */
export class PromServiceMetrics implements ServiceMetrics {
  readonly name: string;
  /** Requests in flight; read at scrape time by `meshlet_agent_active_requests`. */
  active = 0;
  readonly #m: AgentMetrics;
  readonly #byEndpoint = new Map<string, Record<CodeClass, Inc>>();
  #inTable = new Set<string>();
  #closed = false;
  readonly #retries: Inc;
  readonly #budget: Inc;
  readonly #circuit: Inc;
  readonly #ejections: Inc;
  readonly #duration: { observe(value: number): void };

  constructor(name: string, metrics: AgentMetrics) {
    this.name = name;
    this.#m = metrics;
    this.#retries = metrics.retries.labels(name);
    this.#budget = metrics.retryBudgetExhausted.labels(name);
    this.#circuit = metrics.circuitOpen.labels(name);
    this.#ejections = metrics.ejections.labels(name);
    this.#duration = metrics.requestDuration.labels(name);
    // Zero from the start, so that rate() and increase() see the first event.
    for (const c of [this.#retries, this.#budget, this.#circuit, this.#ejections]) c.inc(0);
    metrics.liveServices.add(this);
  }

  attempt(id: string, status: number): void {
    let children = this.#byEndpoint.get(id);
    if (children === undefined) {
      if (this.#closed || !this.#inTable.has(id)) return;
      const r = this.#m.requests;
      children = {
        '2xx': r.labels(this.name, id, '2xx'),
        '3xx': r.labels(this.name, id, '3xx'),
        '4xx': r.labels(this.name, id, '4xx'),
        '5xx': r.labels(this.name, id, '5xx'),
        error: r.labels(this.name, id, 'error'),
      };
      this.#byEndpoint.set(id, children);
    }
    children[codeClass(status)].inc();
  }

  retry(): void {
    if (!this.#closed) this.#retries.inc();
  }

  budgetExhausted(): void {
    if (!this.#closed) this.#budget.inc();
  }

  circuitOpen(): void {
    if (!this.#closed) this.#circuit.inc();
  }

  ejected(count: number): void {
    if (!this.#closed && count > 0) this.#ejections.inc(count);
  }

  started(): void {
    this.active++;
  }

  finished(seconds: number): void {
    this.active--;
    if (!this.#closed) this.#duration.observe(seconds);
  }

  retainEndpoints(endpoints: readonly Endpoint[]): void {
    this.#inTable = new Set(endpoints.map((e) => e.id));
    for (const id of this.#byEndpoint.keys()) {
      if (this.#inTable.has(id)) continue;
      this.#byEndpoint.delete(id);
      for (const c of CODE_CLASSES) this.#m.requests.remove(this.name, id, c);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.retainEndpoints([]);
    this.#closed = true;
    const m = this.#m;
    for (const metric of [m.retries, m.retryBudgetExhausted, m.circuitOpen, m.ejections, m.requestDuration])
      metric.remove(this.name);
    m.liveServices.delete(this);
  }
}
