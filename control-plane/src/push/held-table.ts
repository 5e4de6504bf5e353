import type { ServiceEntry, ServiceTable } from './service-table.js';
import { type TableMessage, tableMessage } from './table-message.js';

/** Options of {@link HeldTable}. */
export interface HeldTableOptions {
  clock: () => number;
  /** An endpoint id that left the agent's table is forgotten this long after (2 × `health.observationWindowMs`). */
  forgetSentMs?: number | undefined;
}

/** Without options: the 2 × 3 s of the default observation window. */
const DEFAULT_FORGET_SENT_MS = 6000;

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
  /**
   * Endpoint ids sent to the agent on this stream, by service: the only ones
   * it may report on; each with when it left the table sent (`undefined`
   * while in it), so that ids of a churning service do not pile up.
   */
  readonly #sent = new Map<string, Map<string, number | undefined>>();
  readonly #clock: () => number;
  readonly #forgetMs: number;
  #forgotAt = -Infinity;
  /** Whether any table was sent to the agent on this stream. */
  sentAny = false;
  /** The trust bundle generation last sent on this stream, and in which table version. */
  #trustSent: { generation: number; version: number } | undefined;
  /** The trust bundle generation the agent ACKed (it holds that bundle). */
  trustAcked: number | undefined;

  constructor(subscriptions: Set<string> | 'all', options?: HeldTableOptions) {
    this.subscriptions = subscriptions;
    this.#clock = options?.clock ?? (() => 0);
    this.#forgetMs = options?.forgetSentMs ?? DEFAULT_FORGET_SENT_MS;
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

  /**
   * Whether the endpoint `id` of `service` was in a table sent to the agent
   * on this stream, and is in it still or left it at most `forgetSentMs` ago
   * (reports lag the table).
   */
  wasSent(service: string, id: string): boolean {
    const ids = this.#sent.get(service);
    if (!ids?.has(id)) return false;
    const leftAt = ids.get(id);
    return leftAt === undefined || this.#clock() - leftAt <= this.#forgetMs;
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
    const trust = table.trust;
    let sendTrust = trust !== undefined && this.#trustSent?.generation !== trust.generation;
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
      if (names.length === 0 && removed.length === 0 && !sendTrust) return undefined;
      concerns = removed.length > 0 || names.some((s) => this.known.has(s));
      if (this.needsFull) {
        full = true;
        names = wanted;
        removed = [];
      }
    }
    this.needsFull = false;
    if (full) sendTrust = trust !== undefined;
    const key = `${full ? 'full' : this.base}|${names.join(',')}|${removed.join(',')}|${sendTrust}`;
    let m = cache.get(key);
    if (!m) {
      m = tableMessage({
        version,
        nonce,
        base: full ? undefined : (this.base as number),
        services: names.map((name) => [name, table.entry(name) as ServiceEntry]),
        removed,
        trust: sendTrust ? trust : undefined,
      });
      cache.set(key, m);
    }
    if (sendTrust && trust !== undefined) this.#trustSent = { generation: trust.generation, version };
    this.base = version;
    this.sentAny = true;
    const before = this.known;
    this.known = new Set(wanted);
    this.#record(names, before, table);
    return { message: m, concerns };
  }

  /**
   * Notes an ACK of `version`: when it covers the table that carried the
   * trust bundle last sent, the agent holds that bundle. Returns the
   * generation it holds now, if known.
   */
  acked(version: number): number | undefined {
    const sent = this.#trustSent;
    if (sent !== undefined && version >= sent.version) this.trustAcked = sent.generation;
    return this.trustAcked;
  }

  /** The agent refused a table: it may not hold the bundle sent last, so the next table carries it again. */
  refused(): void {
    this.#trustSent = undefined;
  }

  /** Notes the endpoints of the services `names` just sent, and when the others left the agent's table. */
  #record(names: string[], before: Set<string>, table: ServiceTable): void {
    const now = this.#clock();
    for (const name of names) {
      let ids = this.#sent.get(name);
      if (!ids) this.#sent.set(name, (ids = new Map()));
      const present = new Set((table.entry(name) as ServiceEntry).routes.endpoints.map((e) => e.id));
      for (const id of present) ids.set(id, undefined);
      for (const [id, leftAt] of ids) if (leftAt === undefined && !present.has(id)) ids.set(id, now);
    }
    for (const name of before) {
      if (this.known.has(name)) continue;
      const ids = this.#sent.get(name);
      if (ids) for (const [id, leftAt] of ids) if (leftAt === undefined) ids.set(id, now);
    }
    // At most once per forgetSentMs: one pass over what the agent was sent.
    if (now - this.#forgotAt < this.#forgetMs) return;
    this.#forgotAt = now;
    for (const [name, ids] of this.#sent) {
      for (const [id, leftAt] of ids) if (leftAt !== undefined && now - leftAt > this.#forgetMs) ids.delete(id);
      if (ids.size === 0) this.#sent.delete(name);
    }
  }

  /** Endpoint ids held for the agent's reports, in or lately out of its table (bounded by churn × forgetSentMs). */
  sentCount(): number {
    let n = 0;
    for (const ids of this.#sent.values()) n += ids.size;
    return n;
  }
}
