import { addressKey } from '@meshlet/shared';

/** The caps of {@link UnauthenticatedStreams}. */
export interface UnauthenticatedLimits {
  /** Unauthenticated streams one source address may hold at once (`stream.maxUnauthenticatedPerAddress`). */
  perAddress: number;
  /** ...and all addresses together (`stream.maxUnauthenticated`). */
  total: number;
  /** Leading bits of an IPv6 address that name one caller (`listen.limits.ipv6PrefixLength`); 64 when not given. */
  ipv6PrefixLength?: number;
}

/** A place taken ({@link UnauthenticatedStreams.take}), or which cap refused it. */
export type UnauthenticatedPlace = { ok: true; release: () => void } | { ok: false; limit: 'address' | 'total' };

/**
 * Counts the streams that have not authenticated yet: no join credential and
 * no client certificate at the upgrade, and no hello admitted since. Such a
 * stream costs memory (its socket, up to `stream.helloMaxBytes` of a hello)
 * and proves nothing about its sender, so their number is capped per source
 * address and in all; an upgrade beyond a cap is refused before it becomes a
 * WebSocket. A stream that authenticates at the upgrade takes no place, so an
 * address full of silent sockets does not keep its real agents out.
 */
export class UnauthenticatedStreams {
  readonly #limits: UnauthenticatedLimits;
  readonly #byAddress = new Map<string, number>();
  #total = 0;
  readonly #changed: (total: number) => void;

  constructor(limits: UnauthenticatedLimits, changed: (total: number) => void = () => {}) {
    this.#limits = limits;
    this.#changed = changed;
  }

  /** Unauthenticated streams held now, in all. */
  get size(): number {
    return this.#total;
  }

  /** Unauthenticated streams `address`'s caller holds now (its IPv6 prefix, see {@link addressKey}). */
  heldBy(address: string): number {
    return this.#byAddress.get(addressKey(address, this.#limits.ipv6PrefixLength)) ?? 0;
  }

  /** Takes a place for a stream from `address`; `release` gives it back (at its hello or its close; twice is once). */
  take(remoteAddress: string): UnauthenticatedPlace {
    const address = addressKey(remoteAddress, this.#limits.ipv6PrefixLength);
    const held = this.#byAddress.get(address) ?? 0;
    if (held >= this.#limits.perAddress) return { ok: false, limit: 'address' };
    if (this.#total >= this.#limits.total) return { ok: false, limit: 'total' };
    this.#byAddress.set(address, held + 1);
    this.#total++;
    this.#changed(this.#total);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
      this.#total--;
      this.#changed(this.#total);
    };
    return { ok: true, release };
  }
}
