import type { ServiceEntry, ServiceTable } from './service-table.js';
import { type TableMessage, tableMessage } from './table-message.js';

/**
 * What one agent holds of the routing table, and so what it needs next: a
 * full table of its services first, then deltas on the version it was last
 * sent, holding only the services that changed since (or that it newly
 * gets) and naming those it no longer gets.
 */
export class HeldTable {
  /** Services the agent calls; `all` for every service. */
  readonly subscriptions: Set<string> | 'all';
  /** Version of the last table sent; the next one is a delta on it. `undefined`: the next one is full. */
  base: number | undefined = undefined;
  /** Services in that table. */
  known = new Set<string>();
  /** It refused a table and kept an older one: its next table, when one concerns it, is full. */
  needsFull = false;
  /** Endpoint ids sent to the agent on this stream, by service: the only ones it may report on. */
  readonly #sent = new Map<string, Set<string>>();
  /** Whether any table was sent to the agent on this stream. */
  sentAny = false;

  constructor(subscriptions: Set<string> | 'all') {
    this.subscriptions = subscriptions;
  }

  /** Adds services to those the agent calls; returns whether any was new. */
  subscribe(services: Iterable<string>): boolean {
    if (this.subscriptions === 'all') return false;
    let grew = false;
    for (const s of services) {
      if (!this.subscriptions.has(s)) {
        this.subscriptions.add(s);
        grew = true;
      }
    }
    return grew;
  }

  /** Whether the endpoint `id` of `service` was in a table sent to the agent on this stream. */
  wasSent(service: string, id: string): boolean {
    return this.#sent.get(service)?.has(id) === true;
  }

  /** Whether `table` has a service for the agent that it was not sent yet. */
  lacks(table: ServiceTable): boolean {
    return table.wanted(this.subscriptions).some((name) => !this.known.has(name));
  }

  /**
   * The message that brings the agent to `table`'s version, if it lacks
   * something, and whether it carries a change that concerns it (for
   * convergence); the agent then counts as holding that version. `cache`
   * shares one message among agents that need the same. `extend`: a delta
   * on the version the agent holds, adding the services it lacks (for a
   * pusher that makes no version of its own).
   */
  next(
    table: ServiceTable,
    cache: Map<string, TableMessage>,
    extend: boolean,
  ): { message: TableMessage; concerns: boolean } | undefined {
    const { version, nonce } = table;
    if (this.base === version && !extend) return undefined;
    const wanted = table.wanted(this.subscriptions);
    let names: string[];
    let removed: string[] = [];
    let full = this.base === undefined;
    let concerns = false;
    if (full) {
      names = wanted;
    } else {
      const base = this.base as number;
      names = wanted.filter((s) => !this.known.has(s) || (table.entry(s) as ServiceEntry).changedAt > base);
      const keep = new Set(wanted);
      removed = [...this.known].filter((s) => !keep.has(s)).sort();
      if (names.length === 0 && removed.length === 0) return undefined;
      concerns = removed.length > 0 || names.some((s) => this.known.has(s));
      if (this.needsFull) {
        full = true;
        names = wanted;
        removed = [];
      }
    }
    this.needsFull = false;
    const key = `${full ? 'full' : this.base}|${names.join(',')}|${removed.join(',')}`;
    let m = cache.get(key);
    if (!m) {
      m = tableMessage({
        version,
        nonce,
        base: full ? undefined : (this.base as number),
        services: names.map((name) => [name, table.entry(name) as ServiceEntry]),
        removed,
      });
      cache.set(key, m);
    }
    this.base = version;
    this.sentAny = true;
    this.known = new Set(wanted);
    for (const name of names) {
      let ids = this.#sent.get(name);
      if (!ids) this.#sent.set(name, (ids = new Set()));
      for (const e of (table.entry(name) as ServiceEntry).routes.endpoints) ids.add(e.id);
    }
    return { message: m, concerns };
  }
}
