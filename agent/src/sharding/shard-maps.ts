import type { Logger } from '@meshlet/shared';
import type { RouteTable } from '../route/route-table.js';
import { HashShardProvider } from './shard-hash-provider.js';
import type { ShardMapProvider, ShardMapResult } from './shard-map.js';

/** Told, for a watched service, what each newly installed routing table makes of it (`undefined`: not sharded now). */
export type ShardWatcher = (result: ShardMapResult | undefined, table: RouteTable) => void;

/**
 * The agent's shard maps: the providers asked in turn for a service's map
 * (hash maps first; range sharding plugs in as another provider), and the
 * watchers told of each table's maps of the services they watch. The agent
 * calls {@link onTable} after every install; the maps of watched services
 * are made then, one table at a time, a table that arrives meanwhile
 * replacing the one waiting (a watcher sees the latest, not every one).
 */
export class ShardMaps {
  readonly #providers: readonly ShardMapProvider[];
  readonly #log: Logger | undefined;
  readonly #watchers = new Map<string, Set<ShardWatcher>>();
  #pending: RouteTable | undefined;
  /** The last table installed, watched or not: a watcher that starts from an older one is told of it. */
  #latest: RouteTable | undefined;
  #running = false;

  constructor(providers: readonly ShardMapProvider[] = [new HashShardProvider()], log?: Logger) {
    this.#providers = providers;
    this.#log = log;
  }

  /** `service`'s map under `table`, or `undefined` when no provider shards it (the service must be in `table`). */
  async resolve(service: string, table: RouteTable): Promise<ShardMapResult | undefined> {
    for (const p of this.#providers) {
      const r = await p.mapOf(service, table);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  /**
   * Calls `watcher` after each table install with `service`'s map; returns
   * the function that stops it. `since`: the version of the table the
   * watcher's first map came from; a newer table installed meanwhile (while
   * that map was built) is made and handed to it, as if it came now.
   */
  watch(service: string, watcher: ShardWatcher, since?: number): () => void {
    let set = this.#watchers.get(service);
    if (set === undefined) this.#watchers.set(service, (set = new Set()));
    set.add(watcher);
    const latest = this.#latest;
    if (since !== undefined && latest !== undefined && latest.version > since) {
      // Through the queue, so that tables reach watchers in order; one already waiting there is as new or newer.
      if (this.#pending === undefined || this.#pending.version < latest.version) this.#pending = latest;
      if (!this.#running) void this.#drain();
    }
    return () => {
      set.delete(watcher);
      if (set.size === 0 && this.#watchers.get(service) === set) this.#watchers.delete(service);
    };
  }

  /** Number of watchers, over all services. */
  get watching(): number {
    let n = 0;
    for (const s of this.#watchers.values()) n += s.size;
    return n;
  }

  /** A routing table was installed: the watched services' maps are made and handed to their watchers. */
  onTable(table: RouteTable): void {
    this.#latest = table;
    if (this.#watchers.size === 0) return;
    this.#pending = table;
    if (!this.#running) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let table = this.#pending; table !== undefined; table = this.#pending) {
        this.#pending = undefined;
        for (const [service, set] of [...this.#watchers]) {
          const result = table.service(service) === undefined ? undefined : await this.#safely(service, table);
          for (const w of [...set]) w(result, table);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #safely(service: string, table: RouteTable): Promise<ShardMapResult | undefined> {
    try {
      return await this.resolve(service, table);
    } catch (e) {
      this.#log?.error({ service, err: (e as Error).message }, 'could not build the shard map of a watched service');
      return undefined;
    }
  }
}
