import { backoffDelay, type RandomSource } from '@meshlet/shared';

/** Options of {@link WatchBackoff}. */
export interface WatchBackoffOptions {
  /** Ceiling of the first delay. */
  initialMs: number;
  /** Ceiling of every delay, however long etcd has been away. */
  maxMs: number;
  random: RandomSource;
}

/** The etcd client's watch backoff: first delay ceiling, and the ceiling of any delay. */
export const WATCH_BACKOFF = { initialMs: 100, maxMs: 1_000 } as const;

/**
 * The delays between attempts to open the etcd watch stream again, as the
 * etcd3 client asks for them (its `faultHandling.watchBackoff`: a
 * `duration`, and `next()` after each failure, the first again once a watch
 * is created). Exponential with full jitter, capped at `maxMs`. etcd3's
 * default grows to 30 s: a replica cut off from etcd for a minute went on
 * reading its stale mirror (join credentials, policies, drains) for up to
 * 30 s after the network came back, while already taking agents again.
 */
export class WatchBackoff {
  readonly duration: number;
  readonly #o: WatchBackoffOptions;
  readonly #attempt: number;

  constructor(o: WatchBackoffOptions, attempt = 0) {
    this.#o = o;
    this.#attempt = attempt;
    // At least a tenth of the first ceiling: a stream that fails at once (the client's breaker open) does not spin.
    this.duration = Math.max(Math.ceil(o.initialMs / 10), backoffDelay(attempt, o, o.random));
  }

  /** The backoff after one more failure. */
  next(): WatchBackoff {
    return new WatchBackoff(this.#o, this.#attempt + 1);
  }
}
