/** What {@link ServiceExpiry} asks of the control plane. */
export interface ServiceExpiryOptions {
  clock: () => number;
  /** A service idle this long is forgotten; 0: never. */
  expiryMs: number;
  /** The service names remembered (kept in the store). */
  remembered: () => readonly string[];
  /** Why the service must stay ('an instance', 'a policy'), or `undefined` when nothing holds it. */
  heldBy: (service: string) => string | undefined;
  /** Forgets the services (from the registry and the store). */
  forget: (services: readonly string[]) => void;
}

/**
 * Forgets service names that nothing uses any more: a remembered service
 * (one that had a healthy instance once) with no instance listed and no
 * policy (traffic or authorization, API or config file) for `expiryMs`.
 * Otherwise every name ever registered, a typo or 500 fake registrations,
 * stays in the store and in every agent's table for good.
 *
 * Idle time is counted in memory from when the sweep first saw the service
 * idle, so a restart starts the count again: a service is forgotten no
 * sooner than `expiryMs` after it went idle, maybe later, never sooner.
 */
export class ServiceExpiry {
  readonly #o: ServiceExpiryOptions;
  /** When each idle service was first seen idle. */
  readonly #idleSince = new Map<string, number>();

  constructor(options: ServiceExpiryOptions) {
    this.#o = options;
  }

  /** Forgets the services idle for `expiryMs`; returns their names. */
  sweep(): string[] {
    if (this.#o.expiryMs <= 0) return [];
    const now = this.#o.clock();
    const names = new Set(this.#o.remembered());
    for (const name of this.#idleSince.keys()) if (!names.has(name)) this.#idleSince.delete(name);
    const expired: string[] = [];
    for (const name of names) {
      if (this.#o.heldBy(name) !== undefined) {
        this.#idleSince.delete(name);
        continue;
      }
      const since = this.#idleSince.get(name);
      if (since === undefined) this.#idleSince.set(name, now);
      else if (now - since >= this.#o.expiryMs) expired.push(name);
    }
    if (expired.length === 0) return [];
    for (const name of expired) this.#idleSince.delete(name);
    this.#o.forget(expired);
    return expired;
  }
}
