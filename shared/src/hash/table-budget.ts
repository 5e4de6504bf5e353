import type { TableBudgetConfig } from '../config/table-budget-config.js';
import { MeshletError, SharedErrorCodes } from '../errors.js';
import type { BalancerPolicy } from '../protocol/policy.js';
import { ringPointCounts } from './ring.js';

/** What the budget needs of one service: its balancer settings (absent: not hash-balanced) and its endpoints' weights. */
export interface BudgetedService {
  readonly policy?: { readonly balancer?: Partial<BalancerPolicy> | undefined } | undefined;
  readonly endpoints: readonly { readonly weight: number }[];
}

/** The schema defaults, for a policy given in part (an admin API body). */
const DEFAULT_MAGLEV_SIZE = 65537;
const DEFAULT_RING_MIN = 1024;

/**
 * The hash-table entries a service's balancer builds: a Maglev table has its
 * size whatever its endpoints (the policy claims it before an instance
 * registers); a ring has the points {@link ringPointCounts} gives over all the
 * listed endpoints (at least `ringMinSize`). Other balancers build none. Pure
 * arithmetic: nothing is built, so a hostile table costs nothing to check.
 */
export function hashTableEntries(service: BudgetedService): number {
  const b = service.policy?.balancer;
  if (b?.kind === 'maglev') return b.maglevTableSize ?? DEFAULT_MAGLEV_SIZE;
  if (b?.kind !== 'ring_hash') return 0;
  const minSize = b.ringMinSize ?? DEFAULT_RING_MIN;
  if (service.endpoints.length === 0) return minSize;
  let total = 0;
  const members = service.endpoints.map((e, i) => ({ id: String(i), weight: e.weight > 0 ? e.weight : 1 }));
  for (const c of ringPointCounts(members, minSize)) total += c;
  return Math.max(total, minSize);
}

/**
 * The first limit of `budget` that `services` exceed, as a sentence naming
 * the setting and the fix; `undefined` within budget.
 */
export function tableBudgetProblem(
  services: Readonly<Record<string, BudgetedService>>,
  budget: TableBudgetConfig,
): string | undefined {
  const names = Object.keys(services);
  if (names.length > budget.maxServices)
    return `the routing table has ${names.length} services, more than tableBudget.maxServices (${budget.maxServices}); remove services (DELETE /v1/services/NAME) or raise tableBudget.maxServices on the control plane and every agent`;
  let endpoints = 0;
  let entries = 0;
  let hashed = 0;
  let largest = { name: '', entries: 0 };
  for (const name of names) {
    const s = services[name] as BudgetedService;
    endpoints += s.endpoints.length;
    const n = hashTableEntries(s);
    if (n === 0) continue;
    hashed++;
    entries += n;
    if (n > largest.entries) largest = { name, entries: n };
  }
  if (endpoints > budget.maxEndpoints)
    return `the routing table has ${endpoints} endpoints, more than tableBudget.maxEndpoints (${budget.maxEndpoints}); raise tableBudget.maxEndpoints on the control plane and every agent`;
  if (entries > budget.maxHashEntries)
    return `the routing table's hash tables need ${entries} entries (${hashed} ring_hash or maglev services; the largest, "${largest.name}", ${largest.entries}), more than tableBudget.maxHashEntries (${budget.maxHashEntries}); lower balancer.maglevTableSize or balancer.ringMinSize, or raise tableBudget.maxHashEntries on the control plane and every agent`;
  return undefined;
}

/** Throws `MESHLET_TABLE_OVER_BUDGET` when `services` exceed `budget` (see {@link tableBudgetProblem}). */
export function checkTableBudget(services: Readonly<Record<string, BudgetedService>>, budget: TableBudgetConfig): void {
  const problem = tableBudgetProblem(services, budget);
  if (problem !== undefined) throw new MeshletError(SharedErrorCodes.TABLE_OVER_BUDGET, problem);
}
