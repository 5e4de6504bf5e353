import { type AuthzPolicy, resolveAuthzPolicy } from '@meshlet/shared';
import { versionedDelete, versionedPut, type VersionedWrite, type WriteNames } from '../policies/versioned-write.js';
import type { Store } from '../store/store.js';

/** Where a service's authorization policy comes from; `none`: the default (every caller its mTLS mode lets in). */
export type AuthzSource = 'api' | 'config' | 'none';

/** A service's authorization policy as the admin API shows it. */
export interface AuthzItem {
  service: string;
  source: AuthzSource;
  /** The store revision that last wrote the API policy (its optimistic-concurrency token); null when not from the API. */
  resourceVersion: string | null;
  /** Complete, defaults filled in; null when the service has none. */
  policy: AuthzPolicy | null;
  /** What was written through the API; absent for other sources. */
  spec?: unknown;
}

/** The outcome of a write. */
export type AuthzWrite = { ok: true; item: AuthzItem } | Extract<VersionedWrite, { ok: false }>;

/** Key prefix of the API's authorization policies in the store (and in backups). */
export const AUTHZ_PREFIX = 'authz/';

const names = (service: string): WriteNames => ({
  what: `the authorization policy of "${service}"`,
  missing: `service "${service}" has no authorization policy written through the API`,
});

/**
 * Authorization policies: those written through the admin API, kept in the
 * store (they survive a restart, reach every replica and travel in backups),
 * over those of the config file's `authz`. Unlike traffic policies there is
 * no default policy: a service without one is shipped without `authz`, and
 * its agents allow every caller its mTLS mode lets in. Writes carry a
 * `resourceVersion` as policy writes do.
 */
export class AuthzStore {
  readonly #store: Store;
  readonly #config: Readonly<Record<string, AuthzPolicy>>;
  #resolved = new Map<string, AuthzPolicy>();

  constructor(store: Store, config: Readonly<Record<string, AuthzPolicy>>) {
    this.#store = store;
    this.#config = config;
    this.reload();
  }

  /** Re-reads the API policies from the store (after a restore, or another replica's write). Invalid ones are skipped. */
  reload(): void {
    const resolved = new Map<string, AuthzPolicy>();
    for (const key of this.#store.keys(AUTHZ_PREFIX)) {
      try {
        resolved.set(key.slice(AUTHZ_PREFIX.length), resolveAuthzPolicy(this.#store.get(key)));
      } catch {
        // Written by a version whose schema differs: the config file's applies, and GET shows the source.
      }
    }
    this.#resolved = resolved;
  }

  /** The policy in force for `service`; undefined: none. */
  policyOf(service: string): AuthzPolicy | undefined {
    return this.#resolved.get(service) ?? this.#config[service];
  }

  /** Services with a policy from the API or the config file. */
  configured(): string[] {
    return [...new Set([...this.#resolved.keys(), ...Object.keys(this.#config)])].sort();
  }

  /** The policy of `service` with where it comes from. */
  item(service: string): AuthzItem {
    const api = this.#resolved.get(service);
    if (api) {
      return {
        service,
        source: 'api',
        resourceVersion: String(this.#store.modRevision(AUTHZ_PREFIX + service)),
        policy: api,
        spec: this.#store.get(AUTHZ_PREFIX + service),
      };
    }
    const config = this.#config[service];
    return { service, source: config ? 'config' : 'none', resourceVersion: null, policy: config ?? null };
  }

  /**
   * Creates or replaces the API policy of `service`; throws (naming the
   * field) when `spec` is not a valid policy. With `resourceVersion`, only
   * if it is still current ("0" when creating).
   */
  async put(service: string, spec: unknown, resourceVersion: string | undefined): Promise<AuthzWrite> {
    const policy = resolveAuthzPolicy(spec);
    const written = await versionedPut(this.#store, AUTHZ_PREFIX + service, spec, resourceVersion, names(service));
    if (!written.ok) return written;
    this.#resolved.set(service, policy);
    return { ok: true, item: this.item(service) };
  }

  /** Deletes the API policy of `service` (the config file's, or none, applies again). */
  async delete(service: string, resourceVersion: string | undefined): Promise<AuthzWrite> {
    const deleted = await versionedDelete(this.#store, AUTHZ_PREFIX + service, resourceVersion, names(service));
    if (!deleted.ok) return deleted;
    this.#resolved.delete(service);
    return { ok: true, item: this.item(service) };
  }
}
