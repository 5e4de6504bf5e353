import { type AuthzPolicy, type Logger, resolveAuthzPolicy } from '@meshlet/shared';
import type { ControlPlaneMetrics } from '../metrics.js';
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
  /** Why the stored API policy no longer validates; present only then, while `policy` is the deny-all placeholder. */
  invalid?: string;
}

/** Where an {@link AuthzStore} reports stored policies that no longer validate. */
export interface AuthzStoreReporting {
  log?: Logger | undefined;
  metrics?: Pick<ControlPlaneMetrics, 'authzInvalidPolicies'> | undefined;
}

/** The rule name of the placeholder that stands in for a stored policy that no longer validates. */
export const INVALID_STORED_POLICY_RULE = 'invalid-stored-policy';

/** What is shipped in place of a stored policy that no longer validates: deny everyone, never allow everyone. */
const DENY_ALL: AuthzPolicy = { mode: 'enforce', rules: [{ name: INVALID_STORED_POLICY_RULE, action: 'deny' }] };

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
  readonly #reporting: AuthzStoreReporting;
  #resolved = new Map<string, AuthzPolicy>();
  #invalid = new Map<string, string>();

  constructor(store: Store, config: Readonly<Record<string, AuthzPolicy>>, reporting: AuthzStoreReporting = {}) {
    this.#store = store;
    this.#config = config;
    this.#reporting = reporting;
    this.reload();
  }

  /**
   * Re-reads the API policies from the store (after a restore, or another
   * replica's write). One that no longer validates (written by a version
   * whose schema differs) is replaced by a deny-all placeholder, logged at
   * error and counted in `meshlet_cp_authz_invalid_policies`; GET shows it
   * as invalid. Falling back to the config file's, or to none, would open
   * the service to callers the operator meant to keep out.
   */
  reload(): void {
    const resolved = new Map<string, AuthzPolicy>();
    const invalid = new Map<string, string>();
    for (const key of this.#store.keys(AUTHZ_PREFIX)) {
      const service = key.slice(AUTHZ_PREFIX.length);
      try {
        resolved.set(service, resolveAuthzPolicy(this.#store.get(key)));
      } catch (e) {
        const problem = (e as Error).message;
        resolved.set(service, DENY_ALL);
        invalid.set(service, problem);
        if (this.#invalid.get(service) !== problem)
          this.#reporting.log?.error(
            { service, problem },
            `the stored authorization policy of ${service} no longer validates: every caller is denied until it is rewritten (meshctl apply -f) or deleted (meshctl delete authz ${service})`,
          );
      }
    }
    this.#resolved = resolved;
    this.#invalid = invalid;
    this.#reporting.metrics?.authzInvalidPolicies.set(invalid.size);
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
        ...(this.#invalid.has(service) ? { invalid: this.#invalid.get(service) } : {}),
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
    this.#forgetInvalid(service);
    return { ok: true, item: this.item(service) };
  }

  /** Deletes the API policy of `service` (the config file's, or none, applies again). */
  async delete(service: string, resourceVersion: string | undefined): Promise<AuthzWrite> {
    const deleted = await versionedDelete(this.#store, AUTHZ_PREFIX + service, resourceVersion, names(service));
    if (!deleted.ok) return deleted;
    this.#resolved.delete(service);
    this.#forgetInvalid(service);
    return { ok: true, item: this.item(service) };
  }

  #forgetInvalid(service: string): void {
    if (this.#invalid.delete(service)) this.#reporting.metrics?.authzInvalidPolicies.set(this.#invalid.size);
  }
}
