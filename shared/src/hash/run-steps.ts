/** Runs a step generator (such as `maglevTableSteps`) to its end at once and returns its result. */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}
