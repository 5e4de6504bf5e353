/** A timer handle as the injected {@link Timers} return it; opaque to callers. */
export type TimerHandle = unknown;

/**
 * The timer functions a resilience component uses, injected so that tests can
 * drive time (`vi.useFakeTimers()` works with the default too, because the
 * default looks the globals up at call time rather than at import time).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The global timers, looked up on every call; handles are unref'd so that they never keep the process alive. */
export const systemTimers: Timers = Object.freeze({
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = globalThis.setTimeout(fn, ms);
    // Fake timers and other runtimes may hand back a number.
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearTimeout(handle: TimerHandle): void {
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]);
  },
});

/** Largest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
