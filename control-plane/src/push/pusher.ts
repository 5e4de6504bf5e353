import {
  type Logger,
  type Routes,
  type ServiceRoutes,
  SharedErrorCodes,
  type TableBudgetConfig,
  type TrustBundle,
  tableBudgetProblem,
} from '@meshlet/shared';
import type { Store } from '../store/store.js';
import { BurstDebounce } from './burst-debounce.js';
import type { Convergence } from './convergence-tracker.js';
import { ServiceTable } from './service-table.js';
import { StartupGrace } from './startup-grace.js';
import { TableFanout } from './table-fanout.js';
import type { TableSink } from './table-sink.js';

/** Options of {@link Pusher}. */
export interface PusherOptions {
  /** Builds every service's routes; `nextVersion` is the version they get if anything changed. */
  build: (nextVersion: number) => Record<string, ServiceRoutes>;
  store: Store;
  log: Logger;
  clock: () => number;
  /** Random hex string for nonces. */
  nonce: () => string;
  debounceMs: number;
  maxDelayMs: number;
  startupGraceMs: number;
  /** Called after a new version is made, with the version. */
  onVersion?: (version: number) => void;
  /** Called when every agent affected by a change has answered it: milliseconds from the change to the last answer. */
  onConverged?: (c: Convergence) => void;
  /** Called with every new table this pusher builds (a leading replica publishes it to the others). */
  onTable?: (table: Routes) => void;
  /** How long an endpoint that left an agent's table still counts as sent to it (2 × `health.observationWindowMs`). */
  forgetSentMs?: number;
  /** The mesh's trust bundle now, carried in the table (a change of it makes a new version). */
  trust?: () => TrustBundle | undefined;
  /** Called when an agent ACKed a table carrying a trust bundle generation it did not hold (its record says which). */
  onTrustAcked?: (sink: TableSink) => void;
  /** A table over this budget is not made nor sent: agents keep the one they hold (and would NACK it anyway). */
  budget?: TableBudgetConfig;
}

export type { Convergence } from './convergence-tracker.js';
export type { TableSink } from './table-sink.js';

const STORE_KEY = 'routing';
/** The counter is lifted to an agent's held version only below this, so that it never runs past the schema's 2^48. */
const MAX_LIFT = 2 ** 47;

/**
 * Turns registry changes into versioned routing tables and sends each agent
 * what concerns it.
 *
 * Changes are debounced: a burst of hellos or health reports yields one
 * version, sent at most `maxDelayMs` after the first change of the burst.
 * Versions only grow, across restarts too (the last one is in the store, and
 * an agent that holds a higher one lifts the counter above it), so an agent
 * never mistakes an old table for a new one.
 *
 * Each agent receives only the services it subscribed to (declared
 * upstreams, or learned on its first request to a service). The first table
 * on a stream is full; after it the agent gets deltas holding only the
 * services that changed since the version it was last sent, and nothing at
 * all for a change that does not concern it, so the cost of a change grows
 * with the number of its callers, not with the size of the mesh. A message
 * is serialised once per distinct content and shared by every agent that
 * gets the same one.
 *
 * Right after a start the registry holds only the agents that have
 * reconnected so far; a table built from it would tell every caller that the
 * others are gone. So nothing is pushed during the {@link StartupGrace} and
 * agents keep serving from the table they hold.
 *
 * While it does not build ({@link setBuilding}) it makes no version of its
 * own: it sends the tables given to {@link takeTable}, with their version and
 * nonce, so that every agent gets the same version whichever control-plane
 * replica it is connected to.
 */
export class Pusher {
  readonly #o: PusherOptions;
  readonly #table: ServiceTable;
  readonly #fanout: TableFanout;
  /** Sinks whose subscriptions grew or that need a full table. */
  readonly #dirty = new Set<TableSink>();
  #forceBump = false;
  readonly #burst: BurstDebounce;
  readonly #grace: StartupGrace;
  #closed = false;
  #building = true;
  /** Why the last table built was refused, logged once per reason. */
  #overBudget: string | undefined;

  constructor(options: PusherOptions) {
    this.#o = options;
    this.#burst = new BurstDebounce({
      clock: options.clock,
      debounceMs: options.debounceMs,
      maxDelayMs: options.maxDelayMs,
      fire: () => this.flush(),
    });
    this.#table = new ServiceTable(options.store.get<{ version: number }>(STORE_KEY)?.version ?? 0);
    const { clock, onConverged } = options;
    this.#fanout = new TableFanout({
      table: this.#table,
      clock,
      ...(onConverged ? { onConverged } : {}),
      ...(options.forgetSentMs === undefined ? {} : { forgetSentMs: options.forgetSentMs }),
    });
    this.#grace = new StartupGrace({ clock, graceMs: options.startupGraceMs, end: () => this.flush() });
  }

  /** The version of the newest table, 0 before the first. */
  get version(): number {
    return this.#table.version;
  }

  /** The nonce of the newest table ('' before the first). */
  get nonce(): string {
    return this.#table.nonce;
  }

  /** The newest table with every service, if any (for inspection; agents get their own subset). */
  get current(): Routes | undefined {
    return this.#table.current();
  }

  /** The version at which a service last changed, if it is in the table. */
  serviceVersion(name: string): number | undefined {
    return this.#table.entry(name)?.changedAt;
  }

  /** Makes this pusher build its tables, at once from what it holds, or only send those given to {@link takeTable}. */
  setBuilding(building: boolean): void {
    if (this.#building === building) return;
    this.#building = building;
    if (building) this.schedule();
  }

  /**
   * Sends a table made elsewhere: its version, nonce and services become
   * this pusher's, and each agent is sent what changed for it. A table not
   * newer than the one held is ignored (agents must never go back), except
   * one of the same version with another nonce, or any with `replace`: the
   * one held was made here while it should not have been; this one
   * replaces it, in full.
   */
  takeTable(table: Pick<Routes, 'version' | 'nonce' | 'services' | 'trust'>, replace = false): boolean {
    if (this.#closed) return false;
    const held = this.#table;
    if (held.built && table.version <= held.version) {
      // Not newer: only another table under that version, or (`replace`, right after this
      // replica stopped leading) the leader's own, even an older one, replaces it, in full.
      const other = table.version === held.version ? table.nonce !== held.nonce : replace;
      if (!other) return false;
      this.#fanout.forgetBases();
    }
    const decidedAt = this.#o.clock();
    const tracked = held.replace(table);
    this.#o.onVersion?.(held.version);
    this.#dirty.clear();
    this.#fanout.sendAll(decidedAt, tracked);
    return true;
  }

  /** True while the startup grace period lasts. */
  inGrace(): boolean {
    return this.#grace.active();
  }

  /**
   * Adds a connected agent; it gets a full table of its services at once
   * (after the grace period). Without `subscriptions` it gets every service.
   */
  add(sink: TableSink, heldVersion: number, subscriptions?: Iterable<string>): void {
    this.#fanout.add(sink, subscriptions);
    if (!this.#building) {
      // The counter of the tables taken rules; the agent gets the table held, whatever it holds.
      if (this.#table.built) this.#fanout.sendTo(sink);
      return;
    }
    if (heldVersion > this.#table.version && heldVersion >= MAX_LIFT) {
      this.#o.log.warn(
        { agentId: sink.record.agentId, heldVersion },
        'agent holds an implausibly high table version; not lifting the counter to it',
      );
    } else if (heldVersion > this.#table.version) {
      // The store lost track (wiped data dir): continue above what agents hold.
      this.#table.lift(heldVersion);
      this.#forceBump = true;
      this.schedule();
      return;
    }
    if (this.#table.built && !this.inGrace()) this.#fanout.sendTo(sink);
  }

  /** Removes an agent; changes it had not answered stop waiting for it. */
  remove(sink: TableSink): void {
    this.#dirty.delete(sink);
    this.#fanout.remove(sink);
  }

  /** Adds services to what an agent receives; they follow after the debounce. */
  subscribe(sink: TableSink, services: Iterable<string>): void {
    if (!this.#fanout.held(sink)?.subscribe(services)) return;
    this.#dirty.add(sink);
    this.schedule();
  }

  /** The services an agent subscribed to (`all` for every service). */
  subscriptions(sink: TableSink): ReadonlySet<string> | 'all' | undefined {
    return this.#fanout.held(sink)?.subscriptions;
  }

  /**
   * Whether the endpoint `id` of `service` was sent to this agent on its
   * stream: an agent may report only on endpoints it was told of.
   */
  wasSent(sink: TableSink, service: string, id: string): boolean {
    return this.#fanout.held(sink)?.wasSent(service, id) === true;
  }

  /** Whether any table was sent to this agent on its stream yet (none during the startup grace). */
  tableSent(sink: TableSink): boolean {
    return this.#fanout.held(sink)?.sentAny === true;
  }

  /** Records an agent's ACK of `version`: the changes up to it are answered, and the trust bundle it carried is held. */
  ack(sink: TableSink, version: number): void {
    this.#fanout.answer(sink, version, true);
    const generation = this.#fanout.held(sink)?.acked(version);
    if (generation !== undefined && sink.record.trustGeneration !== generation) {
      sink.record.trustGeneration = generation;
      this.#o.onTrustAcked?.(sink);
    }
  }

  /**
   * Records an agent's NACK: it kept its previous table, so its next table is
   * a full one; when it NACKed because it lacked a delta's base, that full
   * table goes out at once.
   */
  nack(sink: TableSink, version: number, code: string | undefined): void {
    const state = this.#fanout.held(sink);
    if (!state) return;
    if (code === SharedErrorCodes.DELTA_BASE_MISMATCH) {
      // The full table goes out at once under the same version; its ACK answers the pending changes.
      state.base = undefined;
      if (this.#table.built && (!this.#building || !this.inGrace())) this.#fanout.sendTo(sink);
      return;
    }
    this.#fanout.answer(sink, version, false);
    state.needsFull = true;
    state.refused();
  }

  /** Notes that the registry changed; a table follows after the debounce. */
  schedule(): void {
    if (this.#closed) return;
    this.#burst.note();
  }

  /** Builds the table now; if it changed, makes a new version; sends each agent what it lacks. */
  flush(): void {
    const decidedAt = this.#burst.take();
    if (this.#closed) return;
    if (!this.#building) {
      // No version is made here: an agent that subscribed to more gets the services it lacks at the version it holds.
      if (this.#table.built) for (const sink of this.#dirty) this.#fanout.sendTo(sink, true);
      this.#dirty.clear();
      return;
    }
    if (this.inGrace()) return;
    const table = this.#table;
    const built = this.#o.build(table.version + 1);
    const overBudget = this.#o.budget && tableBudgetProblem(built, this.#o.budget);
    if (overBudget !== this.#overBudget && overBudget)
      this.#o.log.error({ code: SharedErrorCodes.TABLE_OVER_BUDGET }, `not sending a new routing table: ${overBudget}`);
    this.#overBudget = overBudget || undefined;
    if (overBudget) return;
    const { texts, changed, removedAny } = table.diff(built);
    const trust = this.#o.trust?.();
    const trustChanged = table.trustDiffers(trust);
    // A grown subscription needs a new version only if it brings the agent a service it lacks.
    const dirty = [...this.#dirty].some((s) => this.#fanout.held(s)?.lacks(table) === true);
    if (changed > 0 || removedAny || this.#forceBump || dirty || trustChanged || !table.built) {
      this.#forceBump = false;
      table.commit(built, texts, this.#o.nonce(), trust);
      this.#o.store.put(STORE_KEY, { version: table.version }).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'could not persist the routing table version');
      });
      this.#o.log.debug({ version: table.version, changed, services: table.size }, 'new routing table');
      this.#o.onVersion?.(table.version);
      if (this.#o.onTable) this.#o.onTable(this.current as Routes);
    }
    this.#dirty.clear();
    // Only a change to a service counts for convergence, not a table sent because an agent subscribed to more.
    this.#fanout.sendAll(decidedAt, changed > 0 || removedAny);
  }

  /** Closes changes still unanswered after the deadline (called from flush and from the control plane's sweeper). */
  expirePending(): void {
    this.#fanout.expire();
  }

  /** Stops the timers. */
  close(): void {
    this.#closed = true;
    this.#burst.cancel();
    this.#grace.cancel();
  }
}
