import type { Clock } from '@meshlet/shared';

/** What {@link AuthzLogLimiter.admit} answers: whether to log now, and how many lines it held back since the last one. */
export interface LogAdmission {
  log: boolean;
  /** Lines of the same key not logged since the last one that was (only when `log`). */
  suppressed: number;
}

/** How long one key's lines are held back after it was logged, by default. */
export const AUTHZ_LOG_INTERVAL_MS = 10_000;
/** Past this many keys, those whose interval is over are dropped, so callers cannot grow the map without end. */
const MAX_KEYS = 10_000;

/**
 * Bounds denial and audit log lines: the first line per key (caller,
 * service, rule) in each interval is logged, the rest are counted and the
 * count rides on the next line logged for that key. The metric still counts
 * every request; only the log is thinned, so a denied flood cannot flood it.
 */
export class AuthzLogLimiter {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #keys = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(clock: Clock, intervalMs = AUTHZ_LOG_INTERVAL_MS) {
    this.#clock = clock;
    this.#intervalMs = intervalMs;
  }

  /** Whether a line for `key` is logged now. */
  admit(key: string): LogAdmission {
    const now = this.#clock();
    const seen = this.#keys.get(key);
    if (seen !== undefined && now - seen.loggedAt < this.#intervalMs) {
      seen.suppressed++;
      return { log: false, suppressed: 0 };
    }
    if (seen === undefined && this.#keys.size >= MAX_KEYS) this.#prune(now);
    this.#keys.set(key, { loggedAt: now, suppressed: 0 });
    return { log: true, suppressed: seen?.suppressed ?? 0 };
  }

  #prune(now: number): void {
    for (const [key, v] of this.#keys) if (now - v.loggedAt >= this.#intervalMs) this.#keys.delete(key);
  }
}
