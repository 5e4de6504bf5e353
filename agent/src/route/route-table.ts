import { checkTableBudget, type Routes, resolvePolicy, type ServicePolicy } from '@meshlet/shared';
import { type RuntimeDeps, ServiceRuntime } from './service-runtime.js';

/** Where the table in force came from. */
export type TableSource = 'control-plane' | 'disk';

/**
 * A routing table in force: its version and a {@link ServiceRuntime} per
 * service. A new table replaces the old one whole, so a request sees one
 * consistent version; the runtimes of services that stay are carried over
 * and updated, so that retry budgets, ejections, in-flight counts and
 * slow-start ramps survive the change.
 */
export class RouteTable {
  readonly version: number;
  readonly nonce: string;
  readonly source: TableSource;
  readonly receivedAt: number;
  readonly routes: Routes;
  readonly #services: Map<string, ServiceRuntime>;

  /**
   * Throws, before changing anything, when a service's policy is invalid,
   * or (`MESHLET_TABLE_OVER_BUDGET`) when the table exceeds `deps.tableBudget`:
   * that is checked by arithmetic over the policies and endpoints before any
   * ring or Maglev table is built, so a hostile table costs nothing.
   */
  constructor(routes: Routes, source: TableSource, receivedAt: number, deps: RuntimeDeps, previous?: RouteTable) {
    this.version = routes.version;
    this.nonce = routes.nonce;
    this.source = source;
    this.receivedAt = receivedAt;
    this.routes = routes;
    const policies = new Map<string, ServicePolicy>();
    for (const [name, s] of Object.entries(routes.services)) {
      try {
        policies.set(name, resolvePolicy(s.policy ?? {}));
      } catch (e) {
        throw new Error(`service "${name}": ${(e as Error).message}`, { cause: e });
      }
    }
    if (deps.tableBudget) {
      const budgeted: Record<string, { policy: ServicePolicy; endpoints: Routes['services'][string]['endpoints'] }> =
        {};
      for (const [name, s] of Object.entries(routes.services))
        budgeted[name] = { policy: policies.get(name) as ServicePolicy, endpoints: s.endpoints };
      checkTableBudget(budgeted, deps.tableBudget);
    }
    this.#services = new Map();
    for (const [name, s] of Object.entries(routes.services)) {
      const policy = policies.get(name) as ServicePolicy;
      const runtime = previous ? previous.#services.get(name) : undefined;
      if (runtime) runtime.update(s, policy);
      this.#services.set(name, runtime ?? new ServiceRuntime(name, s, policy, deps));
    }
    if (previous) for (const [name, r] of previous.#services) if (!this.#services.has(name)) r.close();
  }

  /** The service, or `undefined` when the table does not know it. */
  service(name: string): ServiceRuntime | undefined {
    return this.#services.get(name);
  }

  /** Names of all services in the table. */
  serviceNames(): string[] {
    return [...this.#services.keys()].sort();
  }

  /** Every `host:port` the table routes to. */
  origins(): Set<string> {
    const out = new Set<string>();
    for (const s of this.#services.values()) for (const e of s.endpoints) out.add(`${e.host}:${e.port}`);
    return out;
  }

  /** Stops the runtimes' timers. */
  close(): void {
    for (const s of this.#services.values()) s.close();
  }
}
