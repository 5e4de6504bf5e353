/**
 * Debounces a burst of changes: fires `debounceMs` after the last change,
 * but never later than `maxDelayMs` after the first one of the burst, so a
 * steady stream of changes still fires.
 */
export class BurstDebounce {
  readonly #o: { clock: () => number; debounceMs: number; maxDelayMs: number; fire: () => void };
  #timer: NodeJS.Timeout | undefined;
  #firstAt: number | undefined;

  constructor(options: { clock: () => number; debounceMs: number; maxDelayMs: number; fire: () => void }) {
    this.#o = options;
  }

  /** Notes a change: the burst fires after the debounce (or at its deadline). */
  note(): void {
    const now = this.#o.clock();
    this.#firstAt ??= now;
    const wait = Math.max(0, Math.min(this.#o.debounceMs, this.#firstAt + this.#o.maxDelayMs - now));
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#o.fire, wait);
  }

  /** Ends the burst (firing now, or fired): returns when its first change was noted, or now if there was none. */
  take(): number {
    this.cancel();
    const first = this.#firstAt ?? this.#o.clock();
    this.#firstAt = undefined;
    return first;
  }

  /** Stops the timer. */
  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
