import type { HealthEngine } from '../health/health-engine.js';
import type { Store } from '../store/store.js';

const DRAINS_PREFIX = 'drains/';

/**
 * Operators' drains, kept in the store so that every replica (and a restart)
 * routes the same; the health engine holds them in force.
 */
export class DurableDrains {
  readonly #store: Store;
  readonly #health: HealthEngine;

  constructor(store: Store, health: HealthEngine) {
    this.#store = store;
    this.#health = health;
  }

  /** The reason of the drain kept for an instance, if one is. */
  reasonOf(id: string): string | undefined {
    return this.#store.get<{ reason: string }>(DRAINS_PREFIX + id)?.reason;
  }

  /** Every drain kept in the store, by instance id. */
  stored(): Map<string, string> {
    const drains = new Map<string, string>();
    for (const key of this.#store.keys(DRAINS_PREFIX))
      drains.set(key.slice(DRAINS_PREFIX.length), this.#store.get<{ reason: string }>(key)?.reason ?? 'restored drain');
    return drains;
  }

  /** Drains an instance and keeps the drain; false for an unknown instance. */
  async drain(id: string, reason: string): Promise<boolean> {
    if (!this.#health.drain(id, reason)) return false;
    try {
      await this.#store.put(DRAINS_PREFIX + id, { reason });
    } catch (e) {
      // A drain the store did not keep must not route differently from what the other replicas (and a restart) see.
      this.#health.syncDrains(this.stored());
      throw e;
    }
    return true;
  }

  /** Ends a drain; false when there was none for the instance. */
  async undrain(id: string): Promise<boolean> {
    // A drain kept for an instance that is gone (or not back yet) can be ended too.
    const kept = this.#store.get(DRAINS_PREFIX + id) !== undefined;
    const known = this.#health.undrain(id);
    if (kept) await this.#store.delete(DRAINS_PREFIX + id);
    return known || kept;
  }
}
