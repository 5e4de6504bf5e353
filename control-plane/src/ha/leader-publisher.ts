import type { LinkContext } from './link-context.js';

interface Unpublished {
  value: unknown;
  /** What it is, for the log. */
  what: string;
  inflight: boolean;
}

/**
 * Writes what only the leader may write (`live/table`, `live/events`), each
 * in a transaction that checks the leader's campaign key: etcd refuses the
 * write once this replica no longer leads. What etcd did not answer is kept
 * and tried again on {@link retry}.
 */
export class LeaderPublisher {
  readonly #ctx: LinkContext;
  readonly #fence: () => string | undefined;
  /** What the leader could not publish yet (etcd did not answer), by key. */
  readonly #unpublished = new Map<string, Unpublished>();

  /** `fence` gives the campaign key while this replica leads, `undefined` while it follows. */
  constructor(ctx: LinkContext, fence: () => string | undefined) {
    this.#ctx = ctx;
    this.#fence = fence;
  }

  /** Publishes `value` under `key` if this replica leads; a follower drops all it had left to publish. */
  publish(key: string, value: unknown, what: string): void {
    const fence = this.#fence();
    if (fence === undefined) {
      this.#unpublished.clear();
      return;
    }
    // One write per key at a time, newest value last: etcd must never be left holding an older table.
    const entry = this.#unpublished.get(key) ?? { value, what, inflight: false };
    entry.value = value;
    entry.what = what;
    this.#unpublished.set(key, entry);
    if (entry.inflight) return;
    entry.inflight = true;
    const ctx = this.#ctx;
    const c = ctx.client;
    ctx
      .bounded(
        c
          .if(fence, 'Create', '>', 0)
          .then(c.put(key).value(JSON.stringify(value)))
          .commit(),
      )
      .then((res) => {
        entry.inflight = false;
        if (!res.succeeded) {
          this.#unpublished.delete(key);
          ctx.log.warn({ what }, 'replica link: no longer the leader in etcd; not published');
          return;
        }
        if (entry.value === value) this.#unpublished.delete(key);
        else this.publish(key, entry.value, entry.what);
      })
      .catch((e: unknown) => {
        // Kept: tried again with the next signal batch.
        entry.inflight = false;
        ctx.log.warn({ what, err: (e as Error).message }, 'replica link: could not publish to etcd; trying again');
      });
  }

  /** Tries again what etcd did not answer. */
  retry(): void {
    for (const [key, u] of this.#unpublished) if (!u.inflight) this.publish(key, u.value, u.what);
  }
}
