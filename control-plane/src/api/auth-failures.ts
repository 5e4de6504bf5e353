/** When an address that keeps presenting wrong bearer tokens is made to wait. */
export interface AuthFailureLimits {
  /** Wrong tokens from one address within `windowMs` that start a block. */
  maxFailures: number;
  windowMs: number;
  /** A blocked address is refused until this long after its last wrong token. */
  blockMs: number;
  /** Addresses tracked at most; the one whose last failure is oldest is forgotten first. */
  maxAddresses: number;
}

/** 5 wrong tokens within 60 s block an address for 60 s after the last one; at most 10000 addresses tracked. */
export const DEFAULT_AUTH_FAILURE_LIMITS: Readonly<AuthFailureLimits> = Object.freeze({
  maxFailures: 5,
  windowMs: 60_000,
  blockMs: 60_000,
  maxAddresses: 10_000,
});

/**
 * Failed bearer-token attempts per remote address, to slow down guessing.
 *
 * Only the last `maxFailures` failure times of an address are kept, and the
 * map is ordered by last failure (re-inserted on each one), so evicting its
 * first key drops the address that has been quiet longest. The bound matters:
 * an attacker who controls many addresses must not be able to grow it without
 * limit; at worst it evicts older addresses, which then start over.
 *
 * A success does not clear an address's failures: a guesser who also holds a
 * valid read-only token must not reset its count with it.
 */
export class AuthFailures {
  readonly #limits: AuthFailureLimits;
  readonly #clock: () => number;
  /** Recent failure times per address, oldest first; the map itself is in order of last failure. */
  readonly #recent = new Map<string, number[]>();

  constructor(limits: AuthFailureLimits, clock: () => number) {
    this.#limits = limits;
    this.#clock = clock;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#recent.size;
  }

  /** How long `address` must still wait, in ms; 0 when it is not blocked. */
  retryAfterMs(address: string): number {
    const times = this.#recent.get(address);
    if (!times) return 0;
    const l = this.#limits;
    const last = times[times.length - 1] as number;
    const since = this.#clock() - last;
    if (since >= l.windowMs && since >= l.blockMs) {
      this.#recent.delete(address);
      return 0;
    }
    return times.length >= l.maxFailures && since < l.blockMs ? l.blockMs - since : 0;
  }

  /** Records a wrong token from `address`; true when this failure starts a block. */
  fail(address: string): boolean {
    const l = this.#limits;
    const now = this.#clock();
    const times = (this.#recent.get(address) ?? []).filter((t) => now - t < l.windowMs);
    times.push(now);
    if (times.length > l.maxFailures) times.splice(0, times.length - l.maxFailures);
    this.#recent.delete(address);
    this.#recent.set(address, times);
    while (this.#recent.size > l.maxAddresses) {
      const oldest = this.#recent.keys().next().value as string;
      this.#recent.delete(oldest);
    }
    return times.length >= l.maxFailures;
  }
}
