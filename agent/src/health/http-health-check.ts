import type { Pool } from 'undici';
import type { HealthCheck, ProbeResult } from './health-check.js';

/** What an {@link HttpHealthCheck} asks. */
export interface HttpCheckSettings {
  /** Asked when there are no role paths. */
  path: string;
  /** The statuses that pass; absent: any 2xx. */
  expectStatus?: readonly number[] | undefined;
  /** Patroni style: `primary` passing → role primary; else `replica` passing → role replica; neither: fails. */
  rolePaths?: { primary: string; replica?: string | undefined } | undefined;
}

/**
 * `GET path` on the app: any 2xx (or one of `expectStatus`) within the
 * timeout passes. With `rolePaths` (as HAProxy in front of Patroni asks
 * `/primary` and `/replica`), the primary path is asked first and the
 * replica path only when it fails; the one that passes names the role.
 * One deadline covers both requests.
 */
export class HttpHealthCheck implements HealthCheck {
  readonly #pool: Pool;
  readonly #settings: HttpCheckSettings;
  readonly #timeoutMs: number;

  constructor(pool: Pool, settings: HttpCheckSettings | string, timeoutMs: number) {
    this.#pool = pool;
    this.#settings = typeof settings === 'string' ? { path: settings } : settings;
    this.#timeoutMs = timeoutMs;
  }

  async probe(): Promise<ProbeResult> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const roles = this.#settings.rolePaths;
    if (!roles) return this.#get(this.#settings.path, signal);
    const primary = await this.#get(roles.primary, signal);
    if (primary.ok) return { ...primary, role: 'primary' };
    if (roles.replica === undefined) return primary;
    const replica = await this.#get(roles.replica, signal);
    if (replica.ok) return { ...replica, detail: `${primary.detail}; ${replica.detail}`, role: 'replica' };
    return { ok: false, detail: `${primary.detail}; ${replica.detail}` };
  }

  #passes(status: number): boolean {
    const expect = this.#settings.expectStatus;
    return expect ? expect.includes(status) : status >= 200 && status < 300;
  }

  async #get(path: string, signal: AbortSignal): Promise<ProbeResult> {
    try {
      const res = await this.#pool.request({
        method: 'GET',
        path,
        headers: { 'user-agent': 'meshlet-health-check' },
        signal,
      });
      await res.body.dump();
      return { ok: this.#passes(res.statusCode), detail: `GET ${path} answered ${res.statusCode}` };
    } catch (e) {
      const err = e as Error & { code?: string };
      const detail =
        err.name === 'TimeoutError' || err.name === 'AbortError'
          ? `no answer within ${this.#timeoutMs} ms`
          : (err.code ?? err.message);
      return { ok: false, detail: `GET ${path} failed: ${detail}` };
    }
  }
}
