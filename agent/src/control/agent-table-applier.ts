import type { AgentConfig, Logger, Routes } from '@meshlet/shared';
import type { HashTableCache } from '../balancer/hash-table-cache.js';
import type { RingChecksums } from './ring-checksums.js';
import { TableApplier } from './table-applier.js';
import type { TableCache } from './table-cache.js';

/**
 * The agent's {@link TableApplier}: installs through `install`, keeps each
 * installed table on disk (a failed write is logged, the table stays in
 * force), ACKs with the ring checksums, applies the agent's table budget and
 * zone. These two moved out of `agent.ts` to keep it under 400 lines.
 */
export function agentTableApplier(o: {
  config: Pick<AgentConfig, 'tableBudget' | 'zone' | 'instance'>;
  log: Logger;
  cache: TableCache;
  rings: RingChecksums;
  tables: HashTableCache;
  held: () => Routes | undefined;
  install: (routes: Routes) => void;
}): TableApplier {
  return new TableApplier({
    held: o.held,
    install: o.install,
    persist: (routes) => o.cache.save(routes),
    ack: () => ({ ok: true, ringChecksums: o.rings.current }),
    budget: o.config.tableBudget,
    zone: o.config.zone ?? o.config.instance?.zone,
    tables: o.tables,
    prepareChecksums: (routes, policies, names, abandoned) => o.rings.prepare(routes, policies, names, abandoned),
    log: o.log,
  });
}

/**
 * Installs the table kept on disk, if any, until the control plane answers;
 * one now over the table budget (or otherwise unbuildable) is skipped with an
 * error logged: the control plane's comes soon.
 */
export async function installPersisted(
  cache: TableCache,
  install: (routes: Routes) => void,
  log: Logger,
): Promise<void> {
  const persisted = await cache.load();
  if (!persisted) return;
  try {
    install(persisted);
  } catch (e) {
    log.error({ err: (e as Error).message, path: cache.path }, 'not serving the persisted routing table');
    return;
  }
  log.info(
    { version: persisted.version, path: cache.path },
    'serving the persisted routing table until the control plane answers',
  );
}
