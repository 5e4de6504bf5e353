import type {
  Endpoint,
  RetryPolicy,
  RouteRule,
  ServicePolicy,
  ServiceRoutes,
  Subset,
  TableBudgetConfig,
  TimeoutPolicy,
} from '@meshlet/shared';
import type { Balancer } from '../balancer/balancer.js';
import { createBalancer } from '../balancer/create-balancer.js';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { HashTableCache } from '../balancer/hash-table-cache.js';
import { ServiceLoadBalancer } from '../balancer/service-load-balancer.js';
import { SlowStart } from '../balancer/slow-start.js';
import type { OutcomeSink } from '../control/observation-recorder.js';
import type { InFlightAttempts } from '../listener/in-flight-attempts.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { OutlierDetector } from '../resilience/outlier-detector.js';
import { TokenBucket } from '../resilience/token-bucket.js';
import { RetryBudget } from '../resilience/retry-budget.js';
import type { AgentMetrics } from '../metrics.js';
import { RouteMatcher } from './route-matcher.js';
import { NULL_SERVICE_METRICS, PromServiceMetrics, type ServiceMetrics } from './service-metrics.js';
import { ServiceSelections } from './service-selections.js';

/** What every service's runtime shares. */
export interface RuntimeDeps {
  random: () => number;
  clock: () => number;
  /** Live per-endpoint stats (active requests, latency), shared across services and tables. */
  stats: EndpointStatsMap;
  /** The caller's zone. */
  zone: string | undefined;
  /** Where attempt outcomes go besides outlier detection (the observations reported to the control plane). */
  observations?: OutcomeSink | undefined;
  /** The agent's Prometheus metrics; absent: none are kept. */
  metrics?: AgentMetrics | undefined;
  /** Hash tables built ahead of the install, for the balancers to take (see `HashTableCache`). */
  tables?: HashTableCache | undefined;
  /** The limits a table must keep to be built (see `RouteTable`); absent: none. */
  tableBudget?: TableBudgetConfig | undefined;
  /** Resendable attempts in flight, given up when their endpoint turns unhealthy or is ejected; absent: none are. */
  inFlight?: InFlightAttempts | undefined;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const NO_BALANCER: Balancer = { pick: () => undefined };

/**
 * One service as this agent calls it: the endpoint selection built from the
 * latest table, and the state that must outlive a table change (the retry
 * budget, the circuit breaker's in-flight count, outlier ejections, the rate
 * limiter's tokens, slow-start ramps). A new table updates it in place;
 * a policy change replaces only the parts whose settings changed.
 */
export class ServiceRuntime {
  readonly name: string;
  /** The service's metric hooks, label children resolved once. */
  readonly metrics: ServiceMetrics;
  readonly #deps: RuntimeDeps;
  #policy!: ServicePolicy;
  #endpoints: readonly Endpoint[] = [];
  #activeTier: number | undefined;
  readonly #selections: ServiceSelections;
  /** Where the balancers being built take their hash tables from, when not the install's (see ServiceSelections). */
  #ahead: HashTableCache | undefined;
  #matcher: RouteMatcher | undefined;
  #overrides = new WeakMap<RouteRule, { retries: RetryPolicy; timeouts: TimeoutPolicy }>();
  #budget!: RetryBudget;
  #breaker!: CircuitBreaker;
  #limiter: TokenBucket | undefined;
  #outlier: OutlierDetector | undefined;
  #slowStart!: SlowStart;
  #routable = new Set<string>();
  #updated = false;
  /** What the balancers were last built from; an unchanged key keeps them. */
  #lbKey = '';
  /** Ejected ids at the last ejection change, to tell which ones returned. */
  #lastEjected = new Set<string>();

  constructor(name: string, routes: ServiceRoutes, policy: ServicePolicy, deps: RuntimeDeps) {
    this.name = name;
    this.#deps = deps;
    this.metrics = deps.metrics ? new PromServiceMetrics(name, deps.metrics) : NULL_SERVICE_METRICS;
    this.#selections = new ServiceSelections({
      balancer: () => this.#policy.balancer,
      build: (endpoints, ejected, tables) =>
        tables === undefined
          ? this.#buildLb(endpoints, ejected)
          : this.#withTables(tables, () => this.#buildLb(endpoints, ejected)),
      plan: (endpoints, ejected) => {
        const sets: Endpoint[][] = [];
        this.#buildLb(endpoints, ejected, (members) => {
          sets.push([...members]);
          return NO_BALANCER;
        });
        return sets;
      },
      withTables: (tables, fn) => this.#withTables(tables, fn),
    });
    this.update(routes, policy);
  }

  /** The policy in force (complete). */
  get policy(): ServicePolicy {
    return this.#policy;
  }

  /** Every endpoint in the table, healthy or not. */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** The tier the control plane chose to serve, if it chose one (see `ServiceRoutes.activeTier`). */
  get activeTier(): number | undefined {
    return this.#activeTier;
  }

  /** Endpoint selection over the whole service. */
  get lb(): ServiceLoadBalancer {
    return this.#selections.lb;
  }

  /** Routing rules, absent when the service has none. */
  get matcher(): RouteMatcher | undefined {
    return this.#matcher;
  }

  get budget(): RetryBudget {
    return this.#budget;
  }

  get breaker(): CircuitBreaker {
    return this.#breaker;
  }

  get limiter(): TokenBucket | undefined {
    return this.#limiter;
  }

  /** Ids currently ejected by outlier detection. */
  get ejected(): ReadonlySet<string> {
    return this.#outlier?.ejected ?? new Set();
  }

  /** Takes a new table's view of the service. */
  update(routes: ServiceRoutes, policy: ServicePolicy): void {
    const old = this.#updated ? this.#policy : undefined;
    const d = this.#deps;
    this.#policy = policy;
    this.#endpoints = routes.endpoints;
    this.metrics.retainEndpoints(routes.endpoints);
    this.#activeTier = routes.activeTier;

    if (
      !old ||
      old.retries.budgetPercent !== policy.retries.budgetPercent ||
      old.retries.budgetMinPerSecond !== policy.retries.budgetMinPerSecond
    ) {
      this.#budget = new RetryBudget(policy.retries, d.clock);
    }
    if (!old || !same(old.circuitBreaker, policy.circuitBreaker))
      this.#breaker = new CircuitBreaker(policy.circuitBreaker);
    if (!old || !same(old.rateLimit, policy.rateLimit))
      this.#limiter = policy.rateLimit ? new TokenBucket(policy.rateLimit, d.clock) : undefined;
    if (!old || !same(old.slowStart, policy.slowStart)) this.#slowStart = new SlowStart(policy.slowStart, d.clock);
    const outlierReplaced = !old || !same(old.outlierDetection, policy.outlierDetection);
    if (outlierReplaced) {
      this.#outlier?.close();
      this.#lastEjected = new Set();
      this.#outlier =
        policy.outlierDetection.consecutiveFailures > 0
          ? new OutlierDetector(policy.outlierDetection, d.clock, (ejected) => this.#onEjection(ejected))
          : undefined;
    }
    this.#outlier?.setEndpoints(routes.endpoints.map((e) => e.id));

    // Slow start: an endpoint that becomes routable after the first table
    // (new, or back from unhealthy) ramps up; the ones there at start do not.
    const routable = new Set(routes.endpoints.filter((e) => (e.health ?? 'healthy') === 'healthy').map((e) => e.id));
    if (this.#updated && policy.slowStart.windowMs > 0) {
      for (const id of routable) if (!this.#routable.has(id)) this.#slowStart.begin(id);
    }
    // Requests waiting on an endpoint the control plane just marked unhealthy go elsewhere if they safely can.
    if (this.#updated && d.inFlight)
      for (const e of routes.endpoints) {
        if (e.health === 'unhealthy' && this.#routable.has(e.id)) d.inFlight.abandon(e.id, 'was marked unhealthy');
        else if (routable.has(e.id) && !this.ejected.has(e.id)) d.inFlight.restored(e.id);
      }
    this.#routable = routable;
    this.#updated = true;

    this.#matcher = policy.routes.length > 0 ? new RouteMatcher(policy.routes, d.random) : undefined;
    this.#overrides = new WeakMap();
    // Most tables change some other service: keep this one's balancers (a
    // hash ring or Maglev table costs milliseconds to build) unless its
    // endpoints or the settings they are built from changed.
    const lbKey = JSON.stringify([
      routes.endpoints,
      routes.activeTier,
      policy.balancer,
      policy.tiers,
      policy.slowStart,
    ]);
    if (lbKey !== this.#lbKey) {
      this.#lbKey = lbKey;
      this.#selections.reset(routes.endpoints, this.ejected);
    } else if (outlierReplaced) {
      // A new detector starts with nothing ejected: selections kept from the old one must forget its ejections.
      this.#selections.eject(this.ejected);
    }
  }

  /**
   * Endpoint selection over the endpoints whose labels include `subset` (the
   * whole service when absent); while a large subset's hash tables are
   * built, a bounded stand-in (see {@link ServiceSelections}).
   */
  subsetLb(subset: Subset | undefined): EndpointSelection {
    return this.#selections.subset(subset);
  }

  /** Endpoint selection over the one endpoint `id` (the owner of a key's range); empty when it is not in the table. */
  instanceLb(id: string): EndpointSelection {
    return this.#selections.instance(id);
  }

  /** Endpoint selection over the endpoints of one role (a TCP upstream's `role: replica`, or `primary` unmanaged). */
  roleLb(role: string): EndpointSelection {
    return this.#selections.role(role);
  }

  /** Resolves once no hash table of this service is being built outside an install. */
  settled(): Promise<void> {
    return this.#selections.settled();
  }

  /** Retry and timeout settings for a request that matched `rule` (the service's, with the rule's overrides). */
  settingsFor(rule: RouteRule | undefined): { retries: RetryPolicy; timeouts: TimeoutPolicy } {
    if (!rule || (!rule.retries && !rule.timeouts)) return this.#policy;
    let s = this.#overrides.get(rule);
    if (!s) {
      s = {
        retries: { ...this.#policy.retries, ...rule.retries },
        timeouts: { ...this.#policy.timeouts, ...rule.timeouts },
      };
      this.#overrides.set(rule, s);
    }
    return s;
  }

  /**
   * Records the outcome of an attempt on `id`: for outlier detection, and
   * with the same verdict for the observations the control plane gets (so a
   * caller reports as failures exactly what makes it eject). `latencyMs` is
   * the time to the answer's headers; negative (the default) when none came.
   */
  outcome(id: string, failed: boolean, latencyMs = -1): void {
    this.#deps.observations?.record(this.name, id, failed, latencyMs);
    const o = this.#outlier;
    if (!o) return;
    if (failed) o.onFailure(id);
    else o.onSuccess(id);
  }

  /** Stops timers and removes the service's metric series: it left the table. */
  close(): void {
    this.#outlier?.close();
    this.#selections.close();
    this.metrics.close();
  }

  #withTables<T>(tables: HashTableCache, fn: () => T): T {
    this.#ahead = tables;
    try {
      return fn();
    } finally {
      this.#ahead = undefined;
    }
  }

  /** A selection over `endpoints` with `ejected` built in; `record` (a dry run) stands in for the balancer factory. */
  #buildLb(
    endpoints: readonly Endpoint[],
    ejected: ReadonlySet<string>,
    record?: (members: readonly Endpoint[]) => Balancer,
  ): ServiceLoadBalancer {
    const d = this.#deps;
    const policy = this.#policy;
    const slow = this.#slowStart;
    const weightOf = policy.slowStart.windowMs > 0 ? (e: Endpoint) => slow.weightOf(e) : undefined;
    // The factory outlives this call (an ejection rebuilds with it later), so it reads the tables in place then.
    const makeBalancer = (eps: readonly Endpoint[]): Balancer =>
      createBalancer(
        policy.balancer,
        eps,
        {
          random: d.random,
          clock: d.clock,
          stats: d.stats,
          tables: this.#ahead ?? d.tables,
          ...(weightOf ? { weightOf } : {}),
        },
        Math.floor(d.random() * Math.max(1, eps.length)),
      );
    return new ServiceLoadBalancer({
      endpoints,
      policy: policy.tiers,
      zone: d.zone,
      random: d.random,
      makeBalancer: record ?? makeBalancer,
      activeTier: this.#activeTier,
      ejected,
    });
  }

  #onEjection(ejected: ReadonlySet<string>): void {
    // The control plane hears of each new ejection: it is this caller's verdict that the endpoint is failing.
    const sink = this.#deps.observations;
    let added = 0;
    for (const id of ejected) {
      if (this.#lastEjected.has(id)) continue;
      added++;
      sink?.ejected(this.name, id);
      this.#deps.inFlight?.abandon(id, 'was ejected by outlier detection');
    }
    this.metrics.ejected(added);
    for (const id of this.#lastEjected) {
      if (ejected.has(id)) continue;
      // Back from ejection: routable again if the table says so, and ramping up again.
      if (this.#routable.has(id)) this.#deps.inFlight?.restored(id);
      if (this.#policy.slowStart.windowMs > 0) this.#slowStart.begin(id);
    }
    this.#lastEjected = new Set(ejected);
    this.#selections.eject(ejected);
  }
}
