import type { Watcher } from 'etcd3';
import type { LinkContext } from './link-context.js';
import { type LeaderInfo, readLeaderInfo } from './live-values.js';

/**
 * Follows who leads: the oldest campaign key under the election prefix,
 * read again whenever a key there comes or goes (and on {@link read}, which
 * the link calls every few seconds in case a watch event was lost). etcd3's
 * own observer is not used: when several campaigns start at once it can
 * settle on a younger key than the one that leads, and then watch only that
 * key.
 */
export class LeaderObserver {
  readonly #ctx: LinkContext;
  readonly #onLeader: (leader: LeaderInfo | undefined) => void;
  #watcher: Watcher | undefined;
  #reading = false;
  /** The leader last told (`replicaId|url`; '' for none). */
  #told: string | undefined;

  /** `onLeader` hears each change of leader (`undefined`: none right now). */
  constructor(ctx: LinkContext, onLeader: (leader: LeaderInfo | undefined) => void) {
    this.#ctx = ctx;
    this.#onLeader = onLeader;
  }

  /** Watches the election prefix, and watches it again whenever the watch fails. */
  observe(): void {
    const ctx = this.#ctx;
    ctx.client
      .watch()
      .prefix(ctx.keys.election)
      .create()
      .then((watcher) => {
        if (ctx.closed) {
          watcher.cancel().catch(() => undefined);
          return;
        }
        this.#watcher = watcher;
        watcher.on('data', () => this.read());
        watcher.on('connected', () => this.read());
        watcher.on('error', (e: Error) => {
          ctx.log.warn({ err: e.message }, 'replica link: lost sight of the election; watching again');
          watcher.cancel().catch(() => undefined);
          ctx.later(() => this.observe());
        });
        this.read();
      })
      .catch((e: unknown) => {
        ctx.log.warn({ err: (e as Error).message }, 'replica link: cannot watch the election; trying again');
        ctx.later(() => this.observe());
      });
  }

  /** Reads who leads now, and tells if that changed. */
  read(): void {
    const ctx = this.#ctx;
    if (ctx.closed || this.#reading) return;
    this.#reading = true;
    ctx
      .bounded(ctx.client.getAll().prefix(ctx.keys.election).sort('Create', 'Ascend').limit(1).strings())
      .then((found) => {
        const value = Object.values(found)[0];
        const info = value === undefined ? undefined : readLeaderInfo(value);
        const key = info === undefined ? '' : `${info.replicaId}|${info.url}`;
        if (key === this.#told) return;
        this.#told = key;
        this.#onLeader(info);
      })
      .catch((e: unknown) => ctx.log.debug({ err: (e as Error).message }, 'replica link: could not read the leader'))
      .finally(() => {
        this.#reading = false;
      });
  }

  /** Stops watching. */
  async close(): Promise<void> {
    await this.#watcher?.cancel();
  }
}
