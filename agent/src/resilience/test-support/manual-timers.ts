// Timers for unit tests that a test fires itself. Test code only: the
// agent's build excludes `test-support` folders (agent/tsconfig.json).
import type { Timers } from '../timers.js';

/**
 * Timers that fire only when the test says so: `pending` holds the
 * callbacks set and not cleared, `fireAll` runs (and forgets) them all.
 */
export function manualTimers(): { timers: Timers; pending: Map<number, () => void>; fireAll: () => void } {
  const pending = new Map<number, () => void>();
  let next = 0;
  const timers: Timers = {
    setTimeout: (fn) => {
      pending.set(++next, fn);
      return next;
    },
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const fireAll = () => {
    const fns = [...pending.values()];
    pending.clear();
    for (const fn of fns) fn();
  };
  return { timers, pending, fireAll };
}
