import type { IKeyValue, Watcher } from 'etcd3';
import type { MeshEvent } from '../events/event-log.js';
import { parseRegistration, type Registration } from '../registry/agent-record.js';
import type { LinkContext } from './link-context.js';
import {
  jsonOf,
  type PublishedTable,
  readEvents,
  readSignalBatch,
  readTable,
  type SignalBatch,
  text,
} from './live-values.js';

/** What the watch tells: what the other replicas published under `live/`. */
export interface LiveWatchHandlers {
  onRegistration(reg: Registration): void;
  onRegistrationGone(agentId: string, replica: string): void;
  onSignals(batch: SignalBatch): void;
  onTable(table: PublishedTable, replace: boolean): void;
  onEvents(events: MeshEvent[]): void;
}

/** Options of {@link LiveWatch}. */
export interface LiveWatchOptions {
  ctx: LinkContext;
  handlers: LiveWatchHandlers;
  /** Another replica wrote an agent's registration at a revision: this replica's own, if older, is stale. */
  yieldTo(agentId: string, modRevision: number): void;
  /** Whether this replica leads right now. */
  leading(): boolean;
}

/**
 * Lists `live/` and watches it: the other replicas' registrations, signal
 * batches, and the leader's table and decisions, each checked against the
 * shared schemas before the handlers hear it.
 */
export class LiveWatch {
  readonly #o: LiveWatchOptions;
  readonly #ctx: LinkContext;
  /** The replica behind each remote registration, to tell who lost it when it is deleted. */
  readonly #owners = new Map<string, string>();
  #watcher: Watcher | undefined;
  /** The `mod_revision` of the newest `live/table` the watch delivered. */
  #tableRev = 0;
  #relisting = false;

  constructor(options: LiveWatchOptions) {
    this.#o = options;
    this.#ctx = options.ctx;
  }

  /** Lists `live/` and watches it from the next revision; lists again when etcd cancels the watch (a compacted revision). */
  async relist(): Promise<void> {
    const ctx = this.#ctx;
    const { live, agents } = ctx.keys;
    const res = await ctx.bounded(ctx.client.getAll().prefix(live).exec());
    const present = new Set<string>();
    for (const kv of res.kvs) {
      this.#apply('Put', kv);
      const key = text(kv.key);
      if (key.startsWith(agents)) present.add(key.slice(agents.length));
    }
    for (const [agentId, owner] of this.#owners) {
      if (present.has(agentId)) continue;
      this.#owners.delete(agentId);
      this.#o.handlers.onRegistrationGone(agentId, owner);
    }
    if (ctx.closed) return;
    const watcher = await ctx.client
      .watch()
      .prefix(live)
      .startRevision(String(Number(res.header.revision) + 1))
      .create();
    if (ctx.closed) {
      await watcher.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = watcher;
    watcher.on('data', (r) => {
      if (this.#watcher !== watcher) return;
      for (const ev of r.events) this.#apply(ev.type, ev.kv);
    });
    watcher.on('disconnected', (e: Error) =>
      ctx.log.warn({ err: e.message }, 'replica link: watch lost; reconnecting'),
    );
    watcher.on('error', (e: Error) => {
      if (this.#watcher !== watcher) return;
      ctx.log.warn({ err: e.message }, 'replica link: watch cancelled by etcd; listing again');
      this.#restart();
    });
  }

  /**
   * A watch attached to an etcd member cut off from the others can go quiet
   * without an error. The link calls this every 2 s: the revision of
   * `live/table` is read (a linearizable read, answered by a member with a
   * quorum); when the watch is behind it, everything is listed and watched
   * again.
   */
  checkBehind(): void {
    const ctx = this.#ctx;
    if (this.#relisting) return;
    ctx
      .bounded(ctx.client.get(ctx.keys.table).exec())
      .then((res) => {
        const rev = Number(res.kvs[0]?.mod_revision ?? 0);
        if (rev <= this.#tableRev || this.#relisting || ctx.closed) return;
        ctx.log.warn(
          { watched: this.#tableRev, stored: rev },
          'replica link: the watch fell behind etcd; listing again',
        );
        this.#restart();
      })
      .catch(() => undefined);
  }

  /** A replica that stops leading takes the table etcd holds, even an older one than its own (made while it wrongly believed it led). */
  adoptStoredTable(): void {
    const ctx = this.#ctx;
    ctx
      .bounded(ctx.client.get(ctx.keys.table).exec())
      .then((res) => {
        const kv = res.kvs[0];
        if (!kv || this.#o.leading() || ctx.closed) return;
        const table = readTable(jsonOf(kv, ctx.log));
        if (table) this.#o.handlers.onTable(table, true);
      })
      .catch((e: unknown) => {
        ctx.log.warn(
          { err: (e as Error).message },
          "replica link: could not read the leader's table after stepping down; trying again",
        );
        ctx.later(() => {
          if (!this.#o.leading()) this.adoptStoredTable();
        });
      });
  }

  /** Stops watching. */
  async close(): Promise<void> {
    await this.#watcher?.cancel();
  }

  /** Drops the watch of `live/`, lists it again and watches it from there, until that works. */
  #restart(): void {
    const ctx = this.#ctx;
    if (this.#relisting || ctx.closed) return;
    this.#relisting = true;
    const old = this.#watcher;
    this.#watcher = undefined;
    old?.cancel().catch(() => undefined);
    const again = () => {
      this.relist()
        .then(() => {
          this.#relisting = false;
        })
        .catch((err: unknown) => {
          ctx.log.warn({ err: (err as Error).message }, 'replica link: listing failed; trying again');
          if (ctx.closed) this.#relisting = false;
          else ctx.later(again);
        });
    };
    again();
  }

  #apply(type: 'Put' | 'Delete', kv: IKeyValue): void {
    const ctx = this.#ctx;
    const { agents, signals, table, events } = ctx.keys;
    const key = text(kv.key);
    const h = this.#o.handlers;
    try {
      if (key.startsWith(agents)) {
        this.#applyRegistration(type, key.slice(agents.length), kv);
      } else if (key.startsWith(signals)) {
        if (type === 'Delete') return;
        const batch = readSignalBatch(jsonOf(kv, ctx.log));
        if (batch && batch.replica !== ctx.replicaId) h.onSignals(batch);
      } else if (key === table) {
        if (type === 'Put') this.#tableRev = Math.max(this.#tableRev, Number(kv.mod_revision));
        const published = type === 'Put' ? readTable(jsonOf(kv, ctx.log)) : undefined;
        if (published) h.onTable(published, false);
      } else if (key === events) {
        const decisions = type === 'Put' ? readEvents(jsonOf(kv, ctx.log)) : undefined;
        if (decisions) h.onEvents(decisions);
      }
    } catch (e) {
      ctx.log.error({ key, err: e }, 'replica link: handling a change failed');
    }
  }

  #applyRegistration(type: 'Put' | 'Delete', agentId: string, kv: IKeyValue): void {
    const ctx = this.#ctx;
    if (type === 'Delete') {
      const owner = this.#owners.get(agentId);
      this.#owners.delete(agentId);
      if (owner !== undefined) this.#o.handlers.onRegistrationGone(agentId, owner);
      return;
    }
    const reg = parseRegistration(agentId, jsonOf(kv, ctx.log));
    if (!reg) {
      ctx.log.warn({ key: text(kv.key) }, 'replica link: a registration in etcd has an unknown shape; ignored');
      return;
    }
    if (reg.replica === ctx.replicaId) {
      this.#owners.delete(agentId);
      return;
    }
    // Another replica has the agent now: a registration this replica still held is stale.
    this.#o.yieldTo(agentId, Number(kv.mod_revision));
    this.#owners.set(agentId, reg.replica);
    this.#o.handlers.onRegistration(reg);
  }
}
