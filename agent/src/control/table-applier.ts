import { type Logger, MeshletError, type Routes, type ServicePolicy, type TableBudgetConfig } from '@meshlet/shared';
import type { HashTableCache } from '../balancer/hash-table-cache.js';
import { planHashTables } from '../route/plan-hash-tables.js';
import { checkResolvedBudget, resolveTable } from '../route/resolved-table.js';
import type { ApplyResult } from './control-client.js';
import { applyDelta } from './routes-delta.js';

/** Options of {@link TableApplier}. */
export interface TableApplierOptions {
  /** The table in force. */
  held: () => Routes | undefined;
  /** Installs a full table (synchronously; throws, changing nothing, when it cannot be built). */
  install: (routes: Routes) => void;
  /** Keeps an installed table on disk. */
  persist: (routes: Routes) => void;
  /** What the ACK of an installed table carries. */
  ack: () => Extract<ApplyResult, { ok: true }>;
  budget: TableBudgetConfig;
  /** The caller's zone (the balancers' member sets depend on it). */
  zone: string | undefined;
  /** Where hash tables are built ahead, for the install to take. */
  tables: HashTableCache;
  /**
   * Computes ahead, in slices, the ring checksums the install's ACK will carry (see `RingChecksums.prepare`), for
   * the services `names` (every service when absent); stops once `abandoned()` (the agent is stopping).
   */
  prepareChecksums?: (
    routes: Routes,
    policies: ReadonlyMap<string, ServicePolicy>,
    names: readonly string[] | undefined,
    abandoned: () => boolean,
  ) => Promise<void>;
  log: Logger;
}

/**
 * Applies the routing tables the control plane sends, one at a time in the
 * order they came: merges a delta onto the table held, refuses a table over
 * the budget before building anything (`MESHLET_TABLE_OVER_BUDGET`), builds
 * the ring and Maglev tables it needs in slices that yield to the event loop
 * (so that requests keep being answered while a large table builds; the
 * table in force serves them), then installs it at once, so that a request
 * sees one version whole.
 */
export class TableApplier {
  readonly #o: TableApplierOptions;
  #chain: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: TableApplierOptions) {
    this.#o = options;
  }

  /** Applies `received` after the tables received before it; resolves to the ACK or NACK to send. */
  apply(received: Routes): Promise<ApplyResult> {
    const next = this.#chain.then(() => this.#apply(received));
    this.#chain = next;
    return next;
  }

  /** Installs nothing more: a table still building when the agent stops is dropped. */
  stop(): void {
    this.#stopped = true;
  }

  async #apply(received: Routes): Promise<ApplyResult> {
    const o = this.#o;
    const held = o.held();
    const merged = applyDelta(held, received);
    if (!merged.ok) return merged;
    const routes = merged.routes;
    try {
      // A delta resolves, plans and checksums only the services it changed (the others are as installed).
      const table = resolveTable(routes);
      checkResolvedBudget(routes, table, o.budget);
      const names = held !== undefined && table.delta?.base === held ? table.delta.changed : undefined;
      const stopped = (): boolean => this.#stopped;
      // The slices stop at once when the agent stops (they would otherwise run to the end of every table).
      for (const t of planHashTables(routes, table.policies, held, o.zone, names)) {
        if (stopped()) break;
        await o.tables.prebuild(t.policy, t.members, stopped);
      }
      if (!stopped()) await o.prepareChecksums?.(routes, table.policies, names, stopped);
      if (stopped()) return { ok: false, error: 'the agent is stopping' };
      o.install(routes);
    } catch (e) {
      const code = e instanceof MeshletError ? e.code : undefined;
      return { ok: false, error: `could not build the routing table: ${(e as Error).message}`, code };
    } finally {
      o.tables.clear();
    }
    o.log.info(
      {
        version: routes.version,
        services: resolveTable(routes).policies.size,
        ...(received.baseVersion === undefined ? {} : { baseVersion: received.baseVersion }),
      },
      'applied routing table',
    );
    o.persist(routes);
    return o.ack();
  }
}
