import type { RandomSource } from '@meshlet/shared';

/**
 * The control-plane replicas an agent moves between, and the one in use.
 *
 * It starts at a random index, not the first: a fleet started from one
 * config file then spreads over the replicas instead of piling onto the
 * first and stampeding the second when it dies. After that it walks the list
 * in order, wrapping around, so every replica is tried before any is tried
 * twice; which replica an agent is on does not matter, since every replica
 * serves the same table version.
 */
export class UrlRotation {
  readonly urls: readonly string[];
  #index: number;

  constructor(urls: readonly string[], random: RandomSource) {
    if (urls.length === 0) throw new RangeError('UrlRotation needs at least one URL');
    this.urls = [...urls];
    this.#index = Math.min(urls.length - 1, Math.floor(random() * urls.length));
  }

  /** The URL in use (or about to be tried). */
  get current(): string {
    return this.urls[this.#index] as string;
  }

  /** Moves to the next URL, wrapping around; returns the URL left and the one now in use (the same with a single URL). */
  advance(): { from: string; to: string } {
    const from = this.current;
    this.#index = (this.#index + 1) % this.urls.length;
    return { from, to: this.current };
  }
}
