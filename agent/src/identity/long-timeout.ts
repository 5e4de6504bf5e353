import type { Clock } from '@meshlet/shared';

/** The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending {@link setLongTimeout}. */
export interface LongTimeout {
  clear(): void;
}

/**
 * Calls `fire` once the clock reaches `at`, however far away: Node fires a
 * `setTimeout` longer than {@link MAX_TIMER_MS} after 1 ms
 * (TimeoutOverflowWarning), so the wait goes in steps of at most that,
 * re-reading the clock after each. The timers are unref'd.
 */
export function setLongTimeout(at: number, clock: Clock, fire: () => void): LongTimeout {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const wait = Math.max(0, at - clock());
    timer = setTimeout(() => (wait > MAX_TIMER_MS ? arm() : fire()), Math.min(wait, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return { clear: () => clearTimeout(timer) };
}
