import type { Routes, ServicePolicy, ServiceRoutes } from '@meshlet/shared';
import { checkResolvedBudget, resolveTable } from './resolved-table.js';
import { serviceOf } from './service-of.js';
import { type RuntimeDeps, ServiceRuntime } from './service-runtime.js';

/** A service an install makes or updates a runtime for. */
interface Wanted {
  name: string;
  s: ServiceRoutes;
  policy: ServicePolicy;
  /** The runtime to update; none: make one. */
  runtime: ServiceRuntime | undefined;
}

/** Where the table in force came from. */
export type TableSource = 'control-plane' | 'disk';

/**
 * A routing table in force: its version and a {@link ServiceRuntime} per
 * service. A new table replaces the old one whole, so a request sees one
 * consistent version; the runtimes of services that stay are carried over
 * and updated, so that retry budgets, ejections, in-flight counts and
 * slow-start ramps survive the change.
 *
 * A table made by a delta over the previous one (see `deltaOrigin`) touches
 * only the services the delta changed or removed: the others keep their
 * runtimes as they are, so an install costs in proportion to the delta, not
 * to the table.
 */
export class RouteTable {
  readonly version: number;
  readonly nonce: string;
  readonly source: TableSource;
  readonly receivedAt: number;
  readonly routes: Routes;
  #services: Map<string, ServiceRuntime>;
  /**
   * Set when a table made by a delta took this table's maps over (they are
   * changed in place from then on, so that an install costs in proportion to
   * the delta): this table's own answers for the services the delta touched.
   */
  #superseded: { by: RouteTable; own: ReadonlyMap<string, ServiceRuntime | undefined> } | undefined;
  /** Service names in order, made on first use; carried over from the previous table when no name came or went. */
  #names: readonly string[] | undefined;
  /** How many endpoints of the table are at each `host:port`. */
  #origins: Map<string, number>;
  /** The keys of {@link #origins}, made on first use; carried over when a delta added or removed none. */
  #originSet: ReadonlySet<string> | undefined;

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
    const table = resolveTable(routes);
    if (deps.tableBudget) checkResolvedBudget(routes, table, deps.tableBudget);
    const delta = table.delta;
    const policyOf = (name: string): ServicePolicy => table.policies.get(name) as ServicePolicy;
    if (previous && delta?.base === previous.routes && previous.#superseded === undefined) {
      const heldAs = (name: string): ServiceRoutes | undefined => serviceOf(previous.routes, name);
      // Build first: making and updating the changed services' runtimes is all that can throw, and it runs
      // before the previous table is changed (on a throw, runtimes() puts back what it did).
      const runtimes = previous.#runtimes(
        delta.changed.map((name) => ({
          name,
          s: routes.services[name] as ServiceRoutes,
          policy: policyOf(name),
          runtime: previous.#services.get(name),
        })),
        deps,
      );
      // Commit: nothing below throws.
      const before = previous.origins();
      const own = new Map<string, ServiceRuntime | undefined>();
      for (const name of [...delta.removed, ...delta.changed]) own.set(name, previous.#services.get(name));
      this.#services = previous.#services;
      this.#origins = previous.#origins;
      previous.#superseded = { by: this, own };
      for (const name of delta.removed) this.#drop(name, heldAs(name), true);
      for (const name of delta.changed) {
        this.#drop(name, heldAs(name), false);
        this.#services.set(name, runtimes.get(name) as ServiceRuntime);
        this.#count(routes.services[name] as ServiceRoutes);
      }
      // Names came or went: the sorted list is made again on first use.
      if (delta.removed.length === 0 && delta.changed.every((name) => own.get(name) !== undefined))
        this.#names = previous.#names;
      const touched = [...delta.removed, ...delta.changed].flatMap((name) => [
        ...(heldAs(name)?.endpoints ?? []),
        ...(serviceOf(routes, name)?.endpoints ?? []),
      ]);
      if (touched.every((e) => before.has(`${e.host}:${e.port}`) === this.#origins.has(`${e.host}:${e.port}`)))
        this.#originSet = before;
      return;
    }
    this.#origins = new Map();
    this.#services = (previous ?? this).#runtimes(
      Object.entries(routes.services).map(([name, s]) => ({
        name,
        s,
        policy: policyOf(name),
        runtime: previous?.service(name),
      })),
      deps,
    );
    for (const s of Object.values(routes.services)) this.#count(s);
    if (previous)
      for (const name of previous.serviceNames()) if (!this.#services.has(name)) previous.service(name)?.close();
  }

  /** The service, or `undefined` when the table does not know it. */
  service(name: string): ServiceRuntime | undefined {
    const s = this.#superseded;
    if (s === undefined) return this.#services.get(name);
    return s.own.has(name) ? s.own.get(name) : s.by.service(name);
  }

  /** Names of all services in the table, sorted. */
  serviceNames(): string[] {
    this.#names ??= Object.keys(this.routes.services).sort();
    return [...this.#names];
  }

  /** Every `host:port` the table routes to. */
  origins(): ReadonlySet<string> {
    if (this.#originSet === undefined) {
      const own = new Set<string>();
      if (this.#superseded === undefined) for (const o of this.#origins.keys()) own.add(o);
      else
        for (const s of Object.values(this.routes.services))
          for (const e of s.endpoints) own.add(`${e.host}:${e.port}`);
      this.#originSet = own;
    }
    return this.#originSet;
  }

  /** Stops the runtimes' timers. */
  close(): void {
    for (const name of this.serviceNames()) this.service(name)?.close();
  }

  /**
   * The runtimes of `wanted`, in its order: each `runtime` updated, a new one
   * made where there is none. On a throw the runtimes made are closed, the
   * ones updated are updated again to this table's service and policy (this
   * is the table in force), and the error is rethrown. That puts back what
   * they route to, not all they held: an update that went through resets
   * what it resets (outlier ejections, breaker counts, slow start) and the
   * second one does not bring that back. No valid table reaches it today
   * (policies are validated before any runtime is touched); splitting
   * `ServiceRuntime.update` into a check and a commit would close it.
   */
  #runtimes(wanted: readonly Wanted[], deps: RuntimeDeps): Map<string, ServiceRuntime> {
    const made = new Map<string, ServiceRuntime>();
    const updated: Wanted[] = [];
    try {
      // New runtimes first: a throw there has changed nothing shared.
      for (const w of wanted) if (!w.runtime) made.set(w.name, new ServiceRuntime(w.name, w.s, w.policy, deps));
      for (const w of wanted) {
        if (!w.runtime) continue;
        updated.push(w);
        w.runtime.update(w.s, w.policy);
      }
    } catch (e) {
      for (const runtime of made.values()) runtime.close();
      const policies = resolveTable(this.routes).policies;
      for (const w of updated.reverse()) {
        const s = serviceOf(this.routes, w.name);
        const policy = policies.get(w.name);
        if (s && policy)
          try {
            w.runtime?.update(s, policy);
          } catch {
            // It was installed with these, so it installs again; were it not to, the first error is the one to report.
          }
      }
      throw e;
    }
    return new Map(wanted.map((w) => [w.name, w.runtime ?? (made.get(w.name) as ServiceRuntime)]));
  }

  /** Counts the origins of `s`. */
  #count(s: ServiceRoutes): void {
    for (const e of s.endpoints) {
      const o = `${e.host}:${e.port}`;
      this.#origins.set(o, (this.#origins.get(o) ?? 0) + 1);
    }
  }

  /** Uncounts the origins of `name` as the previous table held it (`before`); `close`: the service left. */
  #drop(name: string, before: ServiceRoutes | undefined, close: boolean): void {
    if (before)
      for (const e of before.endpoints) {
        const o = `${e.host}:${e.port}`;
        const n = (this.#origins.get(o) ?? 0) - 1;
        if (n > 0) this.#origins.set(o, n);
        else this.#origins.delete(o);
      }
    if (!close) return;
    this.#services.get(name)?.close();
    this.#services.delete(name);
  }
}
