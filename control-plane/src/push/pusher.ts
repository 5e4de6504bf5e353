import type { Logger, Routes, ServiceRoutes } from '@meshlet/shared';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Store } from '../store/store.js';

/** A connected agent that can be sent a table. */
export interface TableSink {
  readonly record: AgentRecord;
  /** `text` is `message` serialised once per version, not once per agent. */
  send(message: Routes, text: string): void;
}

/** Options of {@link Pusher}. */
export interface PusherOptions {
  /** Builds the table from the registry. */
  build: () => Record<string, ServiceRoutes>;
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
}

const STORE_KEY = 'routing';

/**
 * Turns registry changes into versioned routing tables and sends them.
 *
 * Changes are debounced: a burst of hellos or health reports yields one
 * version, sent at most `maxDelayMs` after the first change of the burst.
 * Versions only grow, across restarts too (the last one is in the store, and
 * an agent that holds a higher one lifts the counter above it), so an agent
 * never mistakes an old table for a new one.
 *
 * Right after a start the registry holds only the agents that have
 * reconnected so far; a table built from it would tell every caller that the
 * others are gone. So nothing is pushed during the startup grace period and
 * agents keep serving from the table they hold.
 */
export class Pusher {
  readonly #o: PusherOptions;
  readonly #sinks = new Set<TableSink>();
  #version: number;
  #current: Routes | undefined;
  #currentText = '';
  #currentKey: string | undefined;
  #forceBump = false;
  #timer: NodeJS.Timeout | undefined;
  #firstChangeAt: number | undefined;
  #graceUntil: number;
  #graceTimer: NodeJS.Timeout | undefined;
  #closed = false;

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

  /** The newest table, if any. */
  get current(): Routes | undefined {
    return this.#current;
  }

  /** True while the startup grace period lasts. */
  inGrace(): boolean {
    return this.#graceTimer !== undefined && this.#o.clock() < this.#graceUntil;
  }

  /** Adds a connected agent; it gets the current table at once (after the grace period). */
  add(sink: TableSink, heldVersion: number): void {
    this.#sinks.add(sink);
    if (heldVersion > this.#version) {
      // The store lost track (wiped data dir): continue above what agents hold.
      this.#version = heldVersion;
      this.#forceBump = true;
      this.schedule();
      return;
    }
    if (this.#current && !this.inGrace()) this.#sendTo(sink);
  }

  /** Removes an agent. */
  remove(sink: TableSink): void {
    this.#sinks.delete(sink);
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

  /** Builds the table now; if it changed, makes a new version; sends it to every agent that lacks it. */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#firstChangeAt = undefined;
    if (this.#closed || this.inGrace()) return;
    const services = this.#o.build();
    const key = JSON.stringify(services);
    if (key !== this.#currentKey || this.#forceBump || !this.#current) {
      this.#forceBump = false;
      this.#currentKey = key;
      this.#version += 1;
      this.#current = { type: 'routes', version: this.#version, nonce: this.#o.nonce(), services };
      this.#currentText = JSON.stringify(this.#current);
      this.#o.store.put(STORE_KEY, { version: this.#version }).catch((e: unknown) => {
        this.#o.log.error({ err: e }, 'could not persist the routing table version');
      });
      this.#o.log.info({ version: this.#version, services: Object.keys(services).length }, 'new routing table');
      this.#o.onVersion?.(this.#version);
    }
    for (const sink of this.#sinks) {
      if (sink.record.sent?.version !== this.#version) this.#sendTo(sink);
    }
  }

  #sendTo(sink: TableSink): void {
    const table = this.#current;
    if (!table) return;
    sink.record.sent = { version: table.version, nonce: table.nonce, at: this.#o.clock() };
    sink.send(table, this.#currentText);
  }

  /** Stops the timers. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
  }
}
