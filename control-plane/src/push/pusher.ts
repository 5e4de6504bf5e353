import { type Logger, type Routes, type ServiceRoutes, SharedErrorCodes } from '@meshlet/shared';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Store } from '../store/store.js';
import { type TableMessage, tableMessage } from './table-message.js';

/** A connected agent that can be sent a table. */
export interface TableSink {
  readonly record: AgentRecord;
  /** `text` is `message` serialised once per distinct message, not once per agent. */
  send(message: Routes, text: string): void;
}

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
  /** Called with every new table this pusher makes (the leader replica publishes it to the followers). */
  onTable?: (table: Routes) => void;
}

/** How long one change took to reach every agent it concerned. */
export interface Convergence {
  version: number;
  /** When the change was decided (the first change of the burst that made the version). */
  decidedAt: number;
  convergedAt: number;
  durationMs: number;
  /** Agents that were sent the change. */
  agents: number;
  /** Of them, those that NACKed it or went away instead of ACKing. */
  unanswered: number;
}

const STORE_KEY = 'routing';
/** The counter is lifted to an agent's held version only below this, so that it never runs past the schema's 2^48. */
const MAX_LIFT = 2 ** 47;

/** Services named by a service's route splits. */
function splitTargets(routes: ServiceRoutes): string[] {
  const out = new Set<string>();
  for (const r of routes.policy?.routes ?? []) for (const s of r.splits ?? []) if (s.service !== undefined) out.add(s.service);
  return [...out];
}
/** A change not answered by every agent within this time is recorded as converged at the deadline, with the rest counted as unanswered. */
const CONVERGENCE_DEADLINE_MS = 60_000;

/** What the pusher tracks per agent. */
interface SinkState {
  /** Services the agent calls; `all` for every service. */
  subscriptions: Set<string> | 'all';
  /** Version of the last table sent; the next one is a delta on it. `undefined`: the next one is full. */
  base: number | undefined;
  /** Services in that table. */
  known: Set<string>;
  /** It refused a table and kept an older one: its next table, when one concerns it, is full. */
  needsFull: boolean;
  /** Versions sent to it whose convergence waits for its answer. */
  pending: number[];
}

interface ServiceEntry {
  routes: ServiceRoutes;
  text: string;
  /** Other services its routes split traffic to: an agent that calls it gets them too. */
  targets: string[];
  /** Version at which it last changed. */
  changedAt: number;
}

interface PendingChange {
  decidedAt: number;
  agents: number;
  remaining: number;
  unanswered: number;
}

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
 * others are gone. So nothing is pushed during the startup grace period and
 * agents keep serving from the table they hold.
 *
 * On a follower replica the pusher builds nothing: it {@link adopt}s the
 * tables the leader made, with their version and nonce, and sends its own
 * agents what concerns them, so that every agent gets the same version
 * whichever replica it is connected to.
 */
export class Pusher {
  readonly #o: PusherOptions;
  readonly #sinks = new Map<TableSink, SinkState>();
  readonly #services = new Map<string, ServiceEntry>();
  readonly #pending = new Map<number, PendingChange>();
  /** Sinks whose subscriptions grew or that need a full table. */
  readonly #dirty = new Set<TableSink>();
  #version: number;
  #nonce = '';
  #built = false;
  #forceBump = false;
  #timer: NodeJS.Timeout | undefined;
  #firstChangeAt: number | undefined;
  #graceUntil: number;
  #graceTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #following = false;

  constructor(options: PusherOptions) {
    this.#o = options;
    this.#version = options.store.get<{ version: number }>(STORE_KEY)?.version ?? 0;
    this.#graceUntil = options.clock() + options.startupGraceMs;
    if (options.startupGraceMs > 0) {
      this.#graceTimer = setTimeout(() => {
        this.#graceTimer = undefined;
        this.flush();
      }, options.startupGraceMs);
    }
  }

  /** The version of the newest table, 0 before the first. */
  get version(): number {
    return this.#version;
  }

  /** The nonce of the newest table ('' before the first). */
  get nonce(): string {
    return this.#nonce;
  }

  /** The newest table with every service, if any (for inspection; agents get their own subset). */
  get current(): Routes | undefined {
    if (!this.#built) return undefined;
    const services: Record<string, ServiceRoutes> = {};
    for (const [name, e] of this.#services) services[name] = e.routes;
    return { type: 'routes', version: this.#version, nonce: this.#nonce, services };
  }

  /** The version at which a service last changed, if it is in the table. */
  serviceVersion(name: string): number | undefined {
    return this.#services.get(name)?.changedAt;
  }

  /**
   * Makes this pusher follow (take tables from {@link adopt}) or lead (build
   * them). A new leader builds at once from what it holds.
   */
  setFollowing(following: boolean): void {
    if (this.#following === following) return;
    this.#following = following;
    if (!following) this.schedule();
  }

  /**
   * Takes over a table the leader made: its version, nonce and services
   * become this pusher's, and each agent is sent what changed for it. A
   * table not newer than the one held is ignored, except one of the same
   * version with another nonce, or any with `replace`: this replica made
   * its own while it wrongly believed it led; the leader's replaces it, in
   * full.
   */
  adopt(table: Pick<Routes, 'version' | 'nonce' | 'services'>, replace = false): boolean {
    if (this.#closed) return false;
    if (this.#built && table.version <= this.#version) {
      // Not newer: only another table under that version, or (`replace`, right after this replica stopped leading) the leader's own, even an older one, replaces it, in full.
      const other = table.version === this.#version ? table.nonce !== this.#nonce : replace;
      if (!other) return false;
      for (const state of this.#sinks.values()) state.base = undefined;
    }
    const decidedAt = this.#o.clock();
    let tracked = false;
    for (const [name, routes] of Object.entries(table.services)) {
      const text = JSON.stringify(routes);
      const old = this.#services.get(name);
      if (old?.text === text) continue;
      if (old) tracked = true;
      this.#services.set(name, { routes, text, targets: splitTargets(routes), changedAt: table.version });
    }
    for (const name of [...this.#services.keys()]) {
      if (table.services[name] === undefined) {
        this.#services.delete(name);
        tracked = true;
      }
    }
    this.#built = true;
    this.#version = table.version;
    this.#nonce = table.nonce;
    this.#o.onVersion?.(this.#version);
    this.#dirty.clear();
    this.#sendAll(decidedAt, tracked);
    return true;
  }

  /** True while the startup grace period lasts. */
  inGrace(): boolean {
    return this.#graceTimer !== undefined && this.#o.clock() < this.#graceUntil;
  }

  /**
   * Adds a connected agent; it gets a full table of its services at once
   * (after the grace period). Without `subscriptions` it gets every service.
   */
  add(sink: TableSink, heldVersion: number, subscriptions?: Iterable<string>): void {
    this.#sinks.set(sink, {
      subscriptions: subscriptions === undefined ? 'all' : new Set(subscriptions),
      base: undefined,
      known: new Set(),
      needsFull: false,
      pending: [],
    });
    if (this.#following) {
      // The leader's counter rules; the agent gets the leader's table, whatever it holds.
      if (this.#built) this.#sendTo(sink, this.#sinks.get(sink) as SinkState, new Map(), false);
      return;
    }
    if (heldVersion > this.#version && heldVersion >= MAX_LIFT) {
      this.#o.log.warn({ agentId: sink.record.agentId, heldVersion }, 'agent holds an implausibly high table version; not lifting the counter to it');
    } else if (heldVersion > this.#version) {
      // The store lost track (wiped data dir): continue above what agents hold.
      this.#version = heldVersion;
      this.#forceBump = true;
      this.schedule();
      return;
    }
    if (this.#built && !this.inGrace()) this.#sendTo(sink, this.#sinks.get(sink) as SinkState, new Map(), false);
  }

  /** Removes an agent; changes it had not answered stop waiting for it. */
  remove(sink: TableSink): void {
    const state = this.#sinks.get(sink);
    if (!state) return;
    this.#sinks.delete(sink);
    this.#dirty.delete(sink);
    this.#settle(state, Number.MAX_SAFE_INTEGER, false);
  }

  /** Adds services to what an agent receives; they follow after the debounce. */
  subscribe(sink: TableSink, services: Iterable<string>): void {
    const state = this.#sinks.get(sink);
    if (!state || state.subscriptions === 'all') return;
    let grew = false;
    for (const s of services) {
      if (!state.subscriptions.has(s)) {
        state.subscriptions.add(s);
        grew = true;
      }
    }
    if (!grew) return;
    this.#dirty.add(sink);
    this.schedule();
  }

  /** The services an agent subscribed to (`all` for every service). */
  subscriptions(sink: TableSink): ReadonlySet<string> | 'all' | undefined {
    return this.#sinks.get(sink)?.subscriptions;
  }

  /** Records an agent's ACK of `version`: the changes up to it are answered. */
  ack(sink: TableSink, version: number): void {
    const state = this.#sinks.get(sink);
    if (state) this.#settle(state, version, true);
  }

  /**
   * Records an agent's NACK: it kept its previous table, so its next table is
   * a full one; when it NACKed because it lacked a delta's base, that full
   * table goes out at once.
   */
  nack(sink: TableSink, version: number, code: string | undefined): void {
    const state = this.#sinks.get(sink);
    if (!state) return;
    if (code === SharedErrorCodes.DELTA_BASE_MISMATCH) {
      // The full table goes out at once under the same version; its ACK answers the pending changes.
      state.base = undefined;
      if (this.#built && (this.#following || !this.inGrace())) this.#sendTo(sink, state, new Map(), false);
      return;
    }
    this.#settle(state, version, false);
    state.needsFull = true;
  }

  /** Notes that the registry changed; a table follows after the debounce. */
  schedule(): void {
    if (this.#closed) return;
    const now = this.#o.clock();
    this.#firstChangeAt ??= now;
    const wait = Math.max(0, Math.min(this.#o.debounceMs, this.#firstChangeAt + this.#o.maxDelayMs - now));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), wait);
  }

  /** Builds the table now; if it changed, makes a new version; sends each agent what it lacks. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const decidedAt = this.#firstChangeAt ?? this.#o.clock();
    this.#firstChangeAt = undefined;
    if (this.#closed) return;
    if (this.#following) {
      // A follower makes no version: an agent that subscribed to more gets the services it lacks at the version it holds.
      if (this.#built) {
        for (const sink of this.#dirty) {
          const state = this.#sinks.get(sink);
          if (state) this.#sendTo(sink, state, new Map(), false, true);
        }
      }
      this.#dirty.clear();
      return;
    }
    if (this.inGrace()) return;
    const built = this.#o.build(this.#version + 1);
    const changed: ServiceEntry[] = [];
    const texts = new Map<string, string>();
    for (const [name, routes] of Object.entries(built)) {
      const text = JSON.stringify(routes);
      texts.set(name, text);
      const old = this.#services.get(name);
      if (old?.text !== text) changed.push({ routes, text, targets: [], changedAt: 0 });
    }
    let removedAny = false;
    for (const name of this.#services.keys()) if (!texts.has(name)) removedAny = true;
    // A grown subscription needs a new version only if it brings the agent a service it lacks.
    const dirty = [...this.#dirty].some((s) => {
      const state = this.#sinks.get(s);
      return state !== undefined && this.#wanted(state).some((name) => !state.known.has(name));
    });
    if (changed.length > 0 || removedAny || this.#forceBump || dirty || !this.#built) {
      this.#forceBump = false;
      this.#built = true;
      this.#version += 1;
      this.#nonce = this.#o.nonce();
      for (const [name, routes] of Object.entries(built)) {
        const text = texts.get(name) as string;
        const old = this.#services.get(name);
        if (old?.text !== text) this.#services.set(name, { routes, text, targets: splitTargets(routes), changedAt: this.#version });
      }
      for (const name of [...this.#services.keys()]) if (!texts.has(name)) this.#services.delete(name);
      this.#o.store.put(STORE_KEY, { version: this.#version }).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'could not persist the routing table version');
      });
      this.#o.log.debug({ version: this.#version, changed: changed.length, services: this.#services.size }, 'new routing table');
      this.#o.onVersion?.(this.#version);
      if (this.#o.onTable) this.#o.onTable(this.current as Routes);
    }
    this.#dirty.clear();
    // Only a change to a service counts for convergence, not a table sent because an agent subscribed to more.
    this.#sendAll(decidedAt, changed.length > 0 || removedAny);
  }

  /** Sends every agent what it lacks of the current version; `tracked`: the version changed services (it counts for convergence). */
  #sendAll(decidedAt: number, tracked: boolean): void {
    const cache = new Map<string, TableMessage>();
    let affected = 0;
    for (const [sink, state] of this.#sinks) if (this.#sendTo(sink, state, cache, tracked)) affected++;
    if (affected > 0) this.#pending.set(this.#version, { decidedAt, agents: affected, remaining: affected, unanswered: 0 });
    this.expirePending();
  }

  /**
   * Sends the agent a full table or a delta when it lacks something; returns
   * whether the message carried a change that concerns it (for convergence).
   */
  #sendTo(sink: TableSink, state: SinkState, cache: Map<string, TableMessage>, track: boolean, extend = false): boolean {
    // `extend`: a delta on the version the agent holds, adding the services it lacks (a follower cannot make a version).
    if (state.base === this.#version && !extend) return false;
    const wanted = this.#wanted(state);
    let names: string[];
    let removed: string[] = [];
    let full = state.base === undefined;
    let concerns = false;
    if (full) {
      names = wanted;
    } else {
      const base = state.base as number;
      names = wanted.filter((s) => !state.known.has(s) || (this.#services.get(s) as ServiceEntry).changedAt > base);
      const keep = new Set(wanted);
      removed = [...state.known].filter((s) => !keep.has(s)).sort();
      if (names.length === 0 && removed.length === 0) return false;
      concerns = removed.length > 0 || names.some((s) => state.known.has(s));
      if (state.needsFull) {
        full = true;
        names = wanted;
        removed = [];
      }
    }
    state.needsFull = false;
    const key = `${full ? 'full' : state.base}|${names.join(',')}|${removed.join(',')}`;
    let m = cache.get(key);
    if (!m) {
      m = tableMessage({
        version: this.#version,
        nonce: this.#nonce,
        base: full ? undefined : (state.base as number),
        services: names.map((name) => [name, this.#services.get(name) as ServiceEntry]),
        removed,
      });
      cache.set(key, m);
    }
    state.base = this.#version;
    state.known = new Set(wanted);
    sink.record.sent = { version: this.#version, nonce: this.#nonce, at: this.#o.clock() };
    if (track && concerns) state.pending.push(this.#version);
    sink.send(m.message, m.text);
    return track && concerns;
  }

  /** The services an agent gets: those it subscribed to, and those their routes split traffic to. */
  #wanted(state: SinkState): string[] {
    if (state.subscriptions === 'all') return [...this.#services.keys()].sort();
    const out = new Set<string>();
    const queue = [...state.subscriptions];
    while (queue.length > 0) {
      const name = queue.pop() as string;
      const entry = this.#services.get(name);
      if (!entry || out.has(name)) continue;
      out.add(name);
      queue.push(...entry.targets);
    }
    return [...out].sort();
  }

  /** Counts the agent's answer to every pending change up to `version`. */
  #settle(state: SinkState, version: number, acked: boolean): void {
    const now = this.#o.clock();
    while (state.pending.length > 0 && (state.pending[0] as number) <= version) {
      const v = state.pending.shift() as number;
      const p = this.#pending.get(v);
      if (!p) continue;
      p.remaining--;
      if (!acked) p.unanswered++;
      if (p.remaining === 0) {
        this.#pending.delete(v);
        this.#o.onConverged?.({ version: v, decidedAt: p.decidedAt, convergedAt: now, durationMs: now - p.decidedAt, agents: p.agents, unanswered: p.unanswered });
      }
    }
  }

  /** Closes changes still unanswered after the deadline (called from flush and from the control plane's sweeper). */
  expirePending(): void {
    const now = this.#o.clock();
    let expired = false;
    for (const [v, p] of this.#pending) {
      if (now - p.decidedAt < CONVERGENCE_DEADLINE_MS) break;
      this.#pending.delete(v);
      expired = true;
      this.#o.onConverged?.({ version: v, decidedAt: p.decidedAt, convergedAt: now, durationMs: now - p.decidedAt, agents: p.agents, unanswered: p.unanswered + p.remaining });
    }
    if (!expired) return;
    for (const state of this.#sinks.values()) {
      while (state.pending.length > 0 && !this.#pending.has(state.pending[0] as number)) state.pending.shift();
    }
  }

  /** Stops the timers. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
  }
}
