import type { OutlierPolicy } from '@meshlet/shared';
import { MAX_TIMER_MS, systemTimers, type TimerHandle, type Timers } from './timers.js';

/** Envoy's default `max_ejection_time`: no ejection lasts longer than this, unless `baseEjectionMs` itself is longer. */
export const MAX_EJECTION_MS = 300_000;

interface EndpointState {
  /** Failures in a row since the last success (or return). */
  consecutive: number;
  /** The ejection multiplier: how many times the endpoint was ejected, less the decay (see {@link OutlierDetector}). */
  timesEjected: number;
  ejected: boolean;
  /** When the endpoint last came back; `undefined` before its first ejection. */
  returnedAt: number | undefined;
  timer: TimerHandle | undefined;
}

/**
 * Passive health checking in the manner of Envoy's outlier detection
 * (consecutive 5xx only), for one service as one caller sees it.
 *
 * - `consecutiveFailures` failures in a row ({@link onFailure}: a 5xx answer
 *   or a connect failure) eject an endpoint; a success in between starts the
 *   count again. 0 turns detection off.
 * - The n-th ejection lasts `baseEjectionMs x n`, capped at
 *   max({@link MAX_EJECTION_MS}, `baseEjectionMs`) as Envoy caps it with
 *   `max_ejection_time`, so a flapping endpoint stays out longer each time.
 * - The multiplier decays as Envoy's does: for every whole `baseEjectionMs`
 *   an endpoint spends back in service, it drops by one (worked out lazily at
 *   the next ejection). An endpoint that has been healthy for long starts
 *   over at `baseEjectionMs`.
 * - At most max(1, floor(`maxEjectionPercent`% x endpoints)) are out at once:
 *   Envoy ejects at least one even in a small service. An endpoint that
 *   reaches the threshold while the cap is reached stays in and keeps
 *   counting, so it is ejected at its next failure once there is room.
 *   Failures and successes of an endpoint while it is ejected (requests
 *   that were in flight) are ignored.
 * - An endpoint returns by a timer when its time is up, with a fresh count,
 *   and `onChange` fires then, traffic or not.
 * - {@link setEndpoints} forgets endpoints no longer listed (their count,
 *   multiplier and ejection); results for unknown endpoints are ignored.
 *
 * `onChange` is called synchronously, with a new set each time (a set once
 * handed out never changes), whenever the ejected set changes.
 */
export class OutlierDetector {
  readonly #threshold: number;
  readonly #baseMs: number;
  readonly #maxMs: number;
  readonly #maxPercent: number;
  readonly #clock: () => number;
  readonly #onChange: (ejected: ReadonlySet<string>) => void;
  readonly #timers: Timers;
  readonly #states = new Map<string, EndpointState>();
  #ejected: ReadonlySet<string> = new Set();
  #closed = false;

  constructor(
    policy: OutlierPolicy,
    clock: () => number,
    onChange: (ejected: ReadonlySet<string>) => void,
    timers: Timers = systemTimers,
  ) {
    this.#threshold = policy.consecutiveFailures;
    this.#baseMs = policy.baseEjectionMs;
    this.#maxMs = Math.min(Math.max(MAX_EJECTION_MS, policy.baseEjectionMs), MAX_TIMER_MS);
    this.#maxPercent = policy.maxEjectionPercent;
    this.#clock = clock;
    this.#onChange = onChange;
    this.#timers = timers;
  }

  /** Ids of the endpoints ejected now. */
  get ejected(): ReadonlySet<string> {
    return this.#ejected;
  }

  /** The service's endpoints now: new ones start clean, missing ones are forgotten (and return if ejected). */
  setEndpoints(ids: readonly string[]): void {
    if (this.#closed) return;
    const listed = new Set(ids);
    let returned = false;
    for (const [id, state] of this.#states) {
      if (listed.has(id)) continue;
      if (state.timer !== undefined) this.#timers.clearTimeout(state.timer);
      if (state.ejected) returned = true;
      this.#states.delete(id);
    }
    for (const id of listed) {
      if (!this.#states.has(id))
        this.#states.set(id, {
          consecutive: 0,
          timesEjected: 0,
          ejected: false,
          returnedAt: undefined,
          timer: undefined,
        });
    }
    if (returned) this.#publish(new Set([...this.#ejected].filter((id) => listed.has(id))));
  }

  /** A good answer (not a 5xx) from endpoint `id`. */
  onSuccess(id: string): void {
    const state = this.#states.get(id);
    if (state !== undefined && !state.ejected) state.consecutive = 0;
  }

  /** A 5xx answer or a connect failure from endpoint `id`. */
  onFailure(id: string): void {
    if (this.#threshold === 0 || this.#closed) return;
    const state = this.#states.get(id);
    if (state === undefined || state.ejected) return;
    state.consecutive++;
    if (state.consecutive < this.#threshold) return;
    const cap = Math.max(1, Math.floor((this.#maxPercent * this.#states.size) / 100));
    if (this.#ejected.size >= cap) return;
    this.#eject(id, state);
  }

  /** Stops the timers; the detector changes nothing after this. */
  close(): void {
    this.#closed = true;
    for (const state of this.#states.values()) {
      if (state.timer !== undefined) this.#timers.clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  #eject(id: string, state: EndpointState): void {
    if (state.returnedAt !== undefined) {
      const decay = Math.floor((this.#clock() - state.returnedAt) / this.#baseMs);
      state.timesEjected = Math.max(0, state.timesEjected - Math.max(0, decay));
    }
    state.timesEjected++;
    state.ejected = true;
    state.consecutive = 0;
    const ms = Math.min(this.#baseMs * state.timesEjected, this.#maxMs);
    state.timer = this.#timers.setTimeout(() => this.#return(id, state), ms);
    const next = new Set(this.#ejected);
    next.add(id);
    this.#publish(next);
  }

  #return(id: string, state: EndpointState): void {
    state.timer = undefined;
    state.ejected = false;
    state.consecutive = 0;
    state.returnedAt = this.#clock();
    // A forgotten endpoint's timer is cleared, but guard against a timer that fires anyway.
    if (this.#closed || this.#states.get(id) !== state) return;
    const next = new Set(this.#ejected);
    next.delete(id);
    this.#publish(next);
  }

  #publish(next: ReadonlySet<string>): void {
    this.#ejected = next;
    this.#onChange(next);
  }
}
