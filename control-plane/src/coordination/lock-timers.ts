/** How a backend schedules lease expiries: the process's timers, or a test's hand-driven ones. */
export interface LockTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The process's timers, unref'd so that a pending expiry never keeps the process up. */
export const processTimers: LockTimers = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};
