import { addressKey, DEFAULT_IPV6_PREFIX_LENGTH } from '@meshlet/shared';

/** When an address that keeps presenting wrong bearer tokens is made to wait. */
export interface AuthFailureLimits {
  /** Wrong tokens from one address within `windowMs` that start a block. */
  maxFailures: number;
  windowMs: number;
  /** A blocked address is refused until this long after its last wrong token. */
  blockMs: number;
  /** Addresses tracked at most; the one whose last failure is oldest is forgotten first. */
  maxAddresses: number;
  /** Leading bits of an IPv6 address that name one caller (`listen.limits.ipv6PrefixLength`): a /64 is one address. */
  ipv6PrefixLength?: number;
}

/** 5 wrong tokens within 60 s block an address (an IPv6 /64) for 60 s after the last one; at most 10000 tracked. */
export const DEFAULT_AUTH_FAILURE_LIMITS: Readonly<AuthFailureLimits> = Object.freeze({
  maxFailures: 5,
  windowMs: 60_000,
  blockMs: 60_000,
  maxAddresses: 10_000,
  ipv6PrefixLength: DEFAULT_IPV6_PREFIX_LENGTH,
});

/**
 * Failed bearer-token attempts per remote address, to slow down guessing.
 * An IPv6 caller is counted by its prefix ({@link addressKey}): one with a
 * whole /64 would otherwise start over with each of its addresses.
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
  retryAfterMs(remoteAddress: string): number {
    const address = addressKey(remoteAddress, this.#limits.ipv6PrefixLength);
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
  fail(remoteAddress: string): boolean {
    const l = this.#limits;
    const address = addressKey(remoteAddress, l.ipv6PrefixLength);
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
