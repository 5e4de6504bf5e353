import { resolvePolicy, type ServicePolicy } from '@meshlet/shared';
import type { Store } from '../store/store.js';
import { versionedDelete, versionedPut, type WriteNames } from './versioned-write.js';

/** Where a service's policy comes from: written through the admin API, the config file, or all defaults. */
export type PolicySource = 'api' | 'config' | 'default';

/** A service's policy as the admin API shows it. */
export interface PolicyItem {
  service: string;
  source: PolicySource;
  /** The store revision that last wrote the API policy (its optimistic-concurrency token); null when not from the API. */
  resourceVersion: string | null;
  /** Complete, every default filled in. */
  policy: ServicePolicy;
  /** What was written through the API (only the fields given); absent for other sources. */
  spec?: unknown;
}

/** The outcome of a write. */
export type PolicyWrite = { ok: true; item: PolicyItem } | { ok: false; status: 404 | 409; message: string };

const PREFIX = 'policies/';

const names = (service: string): WriteNames => ({
  what: `the policy of "${service}"`,
  missing: `service "${service}" has no policy written through the API`,
});

/**
 * Service policies: those written through the admin API, kept in the store
 * (they survive a restart and travel in backups), over those of the config
 * file, over the defaults. A write carries the `resourceVersion` it was based
 * on; a stale one is refused, so two operators cannot overwrite each other
 * without knowing.
 */
export class PolicyStore {
  readonly #store: Store;
  readonly #config: Readonly<Record<string, ServicePolicy>>;
  readonly #defaults = resolvePolicy({});
  /** Resolved API policies by service, rebuilt from the store on {@link reload}. */
  #resolved = new Map<string, ServicePolicy>();

  constructor(store: Store, config: Readonly<Record<string, ServicePolicy>>) {
    this.#store = store;
    this.#config = config;
    this.reload();
  }

  /** Re-reads the API policies from the store (after a restore). A stored policy that no longer validates is skipped. */
  reload(): void {
    const resolved = new Map<string, ServicePolicy>();
    for (const key of this.#store.keys(PREFIX)) {
      try {
        resolved.set(key.slice(PREFIX.length), resolvePolicy(this.#store.get(key)));
      } catch {
        // Written by a version whose schema differs: the config or defaults apply, and GET shows the source.
      }
    }
    this.#resolved = resolved;
  }

  /** The policy in force for `service`. */
  policyOf(service: string): ServicePolicy {
    return this.#resolved.get(service) ?? this.#config[service] ?? this.#defaults;
  }

  /** The policy of a service with none from the API or the config file: every default. */
  defaultPolicy(): ServicePolicy {
    return this.#defaults;
  }

  /** Services that have a policy from the API or the config file. */
  configured(): string[] {
    return [...new Set([...this.#resolved.keys(), ...Object.keys(this.#config)])].sort();
  }

  /** The policy of `service` with where it comes from. */
  item(service: string): PolicyItem {
    const api = this.#resolved.get(service);
    if (api) {
      return {
        service,
        source: 'api',
        resourceVersion: String(this.#store.modRevision(PREFIX + service)),
        policy: api,
        spec: this.#store.get(PREFIX + service),
      };
    }
    const config = this.#config[service];
    return config
      ? { service, source: 'config', resourceVersion: null, policy: config }
      : { service, source: 'default', resourceVersion: null, policy: this.#defaults };
  }

  /**
   * Creates or replaces the API policy of `service`. `spec` must already be
   * a valid partial policy. With `resourceVersion`, the write happens only if
   * it is still current ("0" when creating).
   */
  async put(service: string, spec: unknown, resourceVersion: string | undefined): Promise<PolicyWrite> {
    const policy = resolvePolicy(spec);
    const written = await versionedPut(this.#store, PREFIX + service, spec, resourceVersion, names(service));
    if (!written.ok) return written;
    this.#resolved.set(service, policy);
    return { ok: true, item: this.item(service) };
  }

  /** Deletes the API policy of `service` (the config file's or the defaults apply again). */
  async delete(service: string, resourceVersion: string | undefined): Promise<PolicyWrite> {
    const deleted = await versionedDelete(this.#store, PREFIX + service, resourceVersion, names(service));
    if (!deleted.ok) return deleted;
    this.#resolved.delete(service);
    return { ok: true, item: this.item(service) };
  }
}
