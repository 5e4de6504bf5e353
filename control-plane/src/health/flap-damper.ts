/** The flap damping thresholds (`health.flap*` and `health.*HoldDownMs` settings). */
export interface FlapDampingSettings {
  flapThreshold: number;
  flapWindowMs: number;
  holdDownMs: number;
  maxHoldDownMs: number;
}

/** A hold-down that flapping earned. */
export interface HoldDown {
  /** Falls within the flap window, this one included. */
  flaps: number;
  holdMs: number;
  heldUntil: number;
}

/** `baseMs` doubled `times` times, at most `maxMs`: the hold after the `times`-th earlier one. */
export const doubledHoldMs = (baseMs: number, times: number, maxMs: number): number =>
  Math.min(maxMs, baseMs * 2 ** times);

/**
 * Flap damping of one instance, as routers damp a flapping route: more than
 * `flapThreshold` falls to unhealthy within `flapWindowMs` hold it down for
 * `holdDownMs`, doubled on each further hold-down up to `maxHoldDownMs`; a
 * whole window after a hold-down ended, the doubling starts over.
 */
export class FlapDamper {
  readonly #s: FlapDampingSettings;
  /** Times it fell, within the flap window. */
  readonly #falls: number[] = [];
  #holdDowns = 0;
  #heldUntil = 0;

  constructor(settings: FlapDampingSettings) {
    this.#s = settings;
  }

  /** Until when the last hold-down keeps the instance down (0: never held). */
  get heldUntil(): number {
    return this.#heldUntil;
  }

  /** Records a fall from a routed state at `now`; the hold-down it earns, if it is one fall too many. */
  fall(now: number): HoldDown | undefined {
    const s = this.#s;
    this.#falls.push(now);
    while (this.#falls.length > 0 && now - (this.#falls[0] as number) > s.flapWindowMs) this.#falls.shift();
    if (this.#falls.length <= s.flapThreshold) return undefined;
    if (this.#heldUntil > 0 && now - this.#heldUntil > s.flapWindowMs) this.#holdDowns = 0;
    const holdMs = doubledHoldMs(s.holdDownMs, this.#holdDowns, s.maxHoldDownMs);
    this.#holdDowns++;
    this.#heldUntil = now + holdMs;
    return { flaps: this.#falls.length, holdMs, heldUntil: this.#heldUntil };
  }
}
