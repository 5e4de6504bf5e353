import { type Convergence, ConvergenceTracker } from './convergence-tracker.js';
import { HeldTable } from './held-table.js';
import type { ServiceTable } from './service-table.js';
import type { TableMessage } from './table-message.js';
import type { TableSink } from './table-sink.js';

/** Options of {@link TableFanout}. */
export interface TableFanoutOptions {
  /** The table sent; its owner makes or takes in its versions. */
  table: ServiceTable;
  clock: () => number;
  /** Called when every agent affected by a change has answered it. */
  onConverged?: (c: Convergence) => void;
  /** How long an endpoint id that left an agent's table still counts as sent to it ({@link HeldTable}). */
  forgetSentMs?: number;
}

/**
 * The connected agents of a {@link Pusher}, each with what it holds of the
 * table: sends each one what it lacks of the current version, and counts
 * their answers so that a change's convergence covers exactly the agents it
 * concerned.
 */
export class TableFanout {
  readonly #table: ServiceTable;
  readonly #clock: () => number;
  readonly #sinks = new Map<TableSink, HeldTable>();
  readonly #forgetSentMs: number | undefined;
  readonly #convergence: ConvergenceTracker<TableSink>;

  constructor(options: TableFanoutOptions) {
    this.#table = options.table;
    this.#clock = options.clock;
    this.#forgetSentMs = options.forgetSentMs;
    this.#convergence = new ConvergenceTracker({
      clock: options.clock,
      ...(options.onConverged ? { onConverged: options.onConverged } : {}),
    });
  }

  /** What a connected agent holds, `undefined` for an agent not connected. */
  held(sink: TableSink): HeldTable | undefined {
    return this.#sinks.get(sink);
  }

  /** Adds an agent that holds nothing yet; without `subscriptions` it gets every service. */
  add(sink: TableSink, subscriptions?: Iterable<string>): void {
    const held = new HeldTable(subscriptions === undefined ? 'all' : new Set(subscriptions), {
      clock: this.#clock,
      ...(this.#forgetSentMs === undefined ? {} : { forgetSentMs: this.#forgetSentMs }),
    });
    this.#sinks.set(sink, held);
  }

  /** Removes an agent; changes it had not answered stop waiting for it. */
  remove(sink: TableSink): void {
    if (!this.#sinks.delete(sink)) return;
    this.#convergence.forget(sink);
  }

  /** Counts a connected agent's answer to every change up to `version` (`acked`: an ACK, else a NACK). */
  answer(sink: TableSink, version: number, acked: boolean): void {
    if (this.#sinks.has(sink)) this.#convergence.answer(sink, version, acked);
  }

  /** Makes every agent's next table a full one (the version they hold is being replaced). */
  forgetBases(): void {
    for (const state of this.#sinks.values()) state.base = undefined;
  }

  /**
   * Sends one agent what it lacks of the current table, as a change that
   * does not count for convergence; `extend`: only the services it lacks, at
   * the version it holds.
   */
  sendTo(sink: TableSink, extend = false): void {
    const state = this.#sinks.get(sink);
    if (state) this.#send(sink, state, new Map(), false, extend);
  }

  /**
   * Sends every agent what it lacks of the current version, one
   * serialisation per distinct message; `tracked`: the version changed
   * services, so the agents it concerns are waited for, from `decidedAt`.
   */
  sendAll(decidedAt: number, tracked: boolean): void {
    const cache = new Map<string, TableMessage>();
    let affected = 0;
    for (const [sink, state] of this.#sinks) if (this.#send(sink, state, cache, tracked)) affected++;
    this.#convergence.track(this.#table.version, decidedAt, affected);
    this.expire();
  }

  /** Closes changes still unanswered after the deadline. */
  expire(): void {
    this.#convergence.expire();
  }

  /**
   * Sends the agent a full table or a delta when it lacks something; returns
   * whether the message carried a change that concerns it (for convergence).
   */
  #send(sink: TableSink, state: HeldTable, cache: Map<string, TableMessage>, track: boolean, extend = false): boolean {
    const next = state.next(this.#table, cache, extend);
    if (!next) return false;
    const { version, nonce } = this.#table;
    sink.record.sent = { version, nonce, at: this.#clock() };
    if (track && next.concerns) this.#convergence.sent(sink, version);
    sink.send(next.message.message, next.message.text);
    return track && next.concerns;
  }
}
