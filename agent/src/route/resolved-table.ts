import {
  checkTableBudget,
  hashTableEntries,
  type Routes,
  resolvePolicy,
  type ServicePolicy,
  type ServiceRoutes,
  type TableBudgetConfig,
} from '@meshlet/shared';
import { type DeltaOrigin, deltaOrigin } from '../control/routes-delta.js';
import { serviceOf } from './service-of.js';

/** A routing table's services with their policies resolved, and the totals its budget is checked against. */
export interface ResolvedTable {
  /** Each service's complete policy. */
  readonly policies: ReadonlyMap<string, ServicePolicy>;
  /** Endpoints over all services. */
  readonly endpoints: number;
  /** Ring points and Maglev slots over all services (as `hashTableEntries` counts them). */
  readonly entries: number;
  /** The services a delta changed over `base` (see `deltaOrigin`); absent for a full table. */
  readonly delta?: DeltaOrigin;
}

/** Resolved tables, one per table object (tables are never changed once made). */
const resolved = new WeakMap<Routes, ResolvedTable>();
/** Resolved policies, one per service object: a service a delta left alone keeps its object, so its policy. */
const policyOf = new WeakMap<ServiceRoutes, ServicePolicy>();

function resolveService(name: string, s: ServiceRoutes): ServicePolicy {
  let p = policyOf.get(s);
  if (p !== undefined) return p;
  try {
    p = resolvePolicy(s.policy ?? {});
  } catch (e) {
    throw new Error(`service "${name}": ${(e as Error).message}`, { cause: e });
  }
  policyOf.set(s, p);
  return p;
}

/**
 * The policies of a resolved table, read through the service objects (each
 * resolved once, see `policyOf`), so that a table made by a delta needs no
 * copy of its base's policies: a lookup is O(1), a walk O(services).
 */
class TablePolicies implements ReadonlyMap<string, ServicePolicy> {
  readonly #services: Routes['services'];
  readonly size: number;

  constructor(services: Routes['services'], size: number) {
    this.#services = services;
    this.size = size;
  }

  get(name: string): ServicePolicy | undefined {
    const s = Object.hasOwn(this.#services, name) ? this.#services[name] : undefined;
    return s === undefined ? undefined : resolveService(name, s);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#services, name);
  }

  *entries(): MapIterator<[string, ServicePolicy]> {
    for (const name of Object.keys(this.#services)) yield [name, this.get(name) as ServicePolicy];
  }

  *keys(): MapIterator<string> {
    yield* Object.keys(this.#services);
  }

  *values(): MapIterator<ServicePolicy> {
    for (const [, p] of this.entries()) yield p;
  }

  [Symbol.iterator](): MapIterator<[string, ServicePolicy]> {
    return this.entries();
  }

  forEach(fn: (value: ServicePolicy, key: string, map: ReadonlyMap<string, ServicePolicy>) => void): void {
    for (const [name, p] of this.entries()) fn(p, name, this);
  }
}

const entriesOf = (s: ServiceRoutes, policy: ServicePolicy): number =>
  hashTableEntries({ policy, endpoints: s.endpoints });

/**
 * `routes` with every service's policy resolved (throws `service "NAME": ...`
 * for an invalid one). A table made by a delta over a table resolved before
 * is resolved in proportion to the delta: the base's totals are carried
 * over, and only the services the delta changed are resolved.
 */
export function resolveTable(routes: Routes): ResolvedTable {
  const known = resolved.get(routes);
  if (known !== undefined) return known;
  const origin = deltaOrigin(routes);
  const baseRoutes = origin?.base;
  const base = baseRoutes === undefined ? undefined : resolved.get(baseRoutes);
  let out: ResolvedTable;
  if (origin !== undefined && baseRoutes !== undefined && base !== undefined) {
    // Resolve first, so that an invalid policy throws before anything is counted.
    const changed = origin.changed.map((name) => {
      const s = routes.services[name] as ServiceRoutes;
      return { name, s, policy: resolveService(name, s) };
    });
    let size = base.policies.size;
    let endpoints = base.endpoints;
    let entries = base.entries;
    const drop = (name: string): void => {
      const before = serviceOf(baseRoutes, name);
      if (before === undefined) return;
      size--;
      endpoints -= before.endpoints.length;
      entries -= entriesOf(before, resolveService(name, before));
    };
    for (const name of origin.removed) drop(name);
    for (const c of changed) {
      drop(c.name);
      size++;
      endpoints += c.s.endpoints.length;
      entries += entriesOf(c.s, c.policy);
    }
    out = { policies: new TablePolicies(routes.services, size), endpoints, entries, delta: origin };
  } else {
    let endpoints = 0;
    let entries = 0;
    const names = Object.keys(routes.services);
    for (const name of names) {
      const s = routes.services[name] as ServiceRoutes;
      const policy = resolveService(name, s);
      endpoints += s.endpoints.length;
      entries += entriesOf(s, policy);
    }
    out = { policies: new TablePolicies(routes.services, names.length), endpoints, entries };
  }
  resolved.set(routes, out);
  return out;
}

/**
 * Throws `MESHLET_TABLE_OVER_BUDGET` when `table` exceeds `budget`: the
 * totals kept by {@link resolveTable} decide, and only a table over the
 * budget is walked again, for the message that names its largest table.
 */
export function checkResolvedBudget(routes: Routes, table: ResolvedTable, budget: TableBudgetConfig): void {
  if (
    table.policies.size <= budget.maxServices &&
    table.endpoints <= budget.maxEndpoints &&
    table.entries <= budget.maxHashEntries
  )
    return;
  const budgeted: Record<string, { policy: ServicePolicy; endpoints: ServiceRoutes['endpoints'] }> = {};
  for (const [name, s] of Object.entries(routes.services))
    budgeted[name] = { policy: table.policies.get(name) as ServicePolicy, endpoints: s.endpoints };
  checkTableBudget(budgeted, budget);
}
