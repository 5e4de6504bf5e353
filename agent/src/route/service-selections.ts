import type { BalancerPolicy, Endpoint, Subset } from '@meshlet/shared';
import { type EndpointSelection, ExcludingSelection } from '../balancer/endpoint-selection.js';
import { type HashTableCache, prebuildTables } from '../balancer/hash-table-cache.js';
import { rebuildsInSlices } from '../balancer/hash-table-steps.js';
import type { ServiceLoadBalancer } from '../balancer/service-load-balancer.js';
import { matchesSubset } from './route-matcher.js';

/** How {@link ServiceSelections} builds a selection: the service's runtime knows its balancer and deps. */
export interface SelectionBuilder {
  /** The balancer settings in force. */
  balancer(): BalancerPolicy;
  /** A selection over `endpoints` with `ejected` built in; its hash tables from `tables` when given (else built at once, or the install's). */
  build(endpoints: readonly Endpoint[], ejected: ReadonlySet<string>, tables?: HashTableCache): ServiceLoadBalancer;
  /** What {@link build} would ask for: the member set of each hash table (a dry run, nothing built). */
  plan(endpoints: readonly Endpoint[], ejected: ReadonlySet<string>): Endpoint[][];
  /** Runs `fn` (which builds synchronously) with `tables` as the place its hash balancers take their tables from. */
  withTables<T>(tables: HashTableCache, fn: () => T): T;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * One service's endpoint selections (the whole service's, and a subset's
 * for each route split that names one), kept from one table install to the
 * next, with the hash tables they need outside an install built in slices
 * that yield to the event loop, never at once on a request's path:
 *
 * - **An ejection** (outlier detection) changes the sets the hash tables are
 *   built over. The selections in place keep answering, skipping the
 *   ejected endpoints (a hash balancer walks on to the next member of its
 *   table, as for a retry), while the new tables build; then they are put
 *   in at once. A later ejection while one builds takes over from it.
 * - **A subset's first request** gets a bounded stand-in
 *   ({@link ExcludingSelection}: the service's selection, with every
 *   endpoint outside the subset excluded) until the subset's own tables
 *   are built; later requests get the subset's selection.
 *
 * Balancers with small tables, or none, are built at once, as before: see
 * {@link rebuildsInSlices}. A new table's endpoints or settings ({@link reset})
 * drop whatever was still building for the old ones.
 */
export class ServiceSelections {
  readonly #b: SelectionBuilder;
  #endpoints: readonly Endpoint[] = [];
  #lb!: ServiceLoadBalancer;
  #subsets = new Map<string, ServiceLoadBalancer>();
  #standIns = new Map<string, EndpointSelection>();
  #ejected: ReadonlySet<string> = NONE;
  /** Counts resets: a build started before the last one is dropped. */
  #generation = 0;
  readonly #building = new Set<Promise<void>>();

  constructor(builder: SelectionBuilder) {
    this.#b = builder;
  }

  /** The whole service's selection. */
  get lb(): ServiceLoadBalancer {
    return this.#lb;
  }

  /**
   * New endpoints or balancer settings: the service's selection is built at
   * once over them (its hash tables come from the install's cache, built
   * ahead), then the ejections are applied as any ejection is; the subsets
   * start over.
   */
  reset(endpoints: readonly Endpoint[], ejected: ReadonlySet<string>): void {
    this.#generation++;
    this.#endpoints = endpoints;
    this.#ejected = new Set(ejected);
    this.#subsets = new Map();
    this.#standIns = new Map();
    this.#lb = this.#b.build(endpoints, NONE);
    this.#eject(this.#lb, this.#ejected);
  }

  /** Applies the ids ejected now to every selection. */
  eject(ejected: ReadonlySet<string>): void {
    this.#ejected = new Set(ejected);
    this.#eject(this.#lb, this.#ejected);
    for (const lb of this.#subsets.values()) this.#eject(lb, this.#ejected);
  }

  /** The selection over the endpoints whose labels include `subset` (the whole service when absent). */
  subset(subset: Subset | undefined): EndpointSelection {
    if (!subset) return this.#lb;
    return this.#members(JSON.stringify(subset), (e) => matchesSubset(e.labels, subset));
  }

  /** The selection over the one endpoint `id` (a range's owner, see range sharding); empty when it is not in the table. */
  instance(id: string): EndpointSelection {
    return this.#members(`instance:${id}`, (e) => e.id === id);
  }

  /**
   * The selection over the endpoints whose check reports `role` (their
   * `role`, else a configured `role` label), never an unhealthy one: panic
   * routing would otherwise send a role's connections to an instance whose
   * role no check vouches for now (the control plane strips it too).
   */
  role(role: string): EndpointSelection {
    return this.#members(`role:${role}`, (e) => e.health !== 'unhealthy' && (e.role ?? e.labels.role) === role);
  }

  /** The selection over the endpoints `member` keeps, built once per `key` and reset. */
  #members(key: string, member: (e: Endpoint) => boolean): EndpointSelection {
    const built = this.#subsets.get(key) ?? this.#standIns.get(key);
    if (built !== undefined) return built;
    const members = this.#endpoints.filter(member);
    if (!rebuildsInSlices(this.#b.balancer(), members)) {
      const lb = this.#b.build(members, this.#ejected);
      this.#subsets.set(key, lb);
      return lb;
    }
    const standIn = new ExcludingSelection(this.#lb, members, this.#endpoints);
    this.#standIns.set(key, standIn);
    const generation = this.#generation;
    const ejected = this.#ejected;
    this.#track(
      this.#slices(members, ejected, () => generation !== this.#generation).then((tables) => {
        if (generation !== this.#generation) return;
        const lb = this.#b.build(members, ejected, tables);
        this.#subsets.set(key, lb);
        this.#standIns.delete(key);
        // Ejections that came while it built are applied as any other.
        if (this.#ejected !== ejected) this.#eject(lb, this.#ejected);
      }),
    );
    return standIn;
  }

  /** Resolves once no rebuild is under way (for tests and measurements). */
  async settled(): Promise<void> {
    while (this.#building.size > 0) await Promise.all([...this.#building]);
  }

  /** Drops every rebuild under way: the service left the table. */
  close(): void {
    this.#generation++;
  }

  #eject(lb: ServiceLoadBalancer, ejected: ReadonlySet<string>): void {
    if (!rebuildsInSlices(this.#b.balancer(), lb.endpoints)) {
      lb.setEjected(ejected);
      return;
    }
    const held = lb.hold(ejected);
    if (held === undefined) return;
    const generation = this.#generation;
    const stale = (): boolean => lb.held !== held || generation !== this.#generation;
    this.#track(
      this.#slices(lb.endpoints, held, stale).then((tables) => {
        // A later ejection holds its own set now, and builds its own tables; a reset dropped this selection.
        if (stale()) return;
        this.#b.withTables(tables, () => lb.setEjected(held));
      }),
    );
  }

  /**
   * The hash tables a build over `endpoints` with `ejected` needs, built in
   * slices; the slices stop once `stale()` (the build's result would be
   * dropped: a reset, a close, a later ejection).
   */
  #slices(endpoints: readonly Endpoint[], ejected: ReadonlySet<string>, stale: () => boolean): Promise<HashTableCache> {
    return prebuildTables(this.#b.balancer(), this.#b.plan(endpoints, ejected), stale);
  }

  #track(p: Promise<void>): void {
    // A table that cannot be built here could not be at once either (the install built its like): the selection in
    // place stays, skipping what it holds.
    const tracked = p.catch(() => undefined).finally(() => this.#building.delete(tracked));
    this.#building.add(tracked);
  }
}
