import type { Pool } from 'undici';
import type { HealthCheck, ProbeResult } from './health-check.js';

/** `GET path` on the app; any 2xx within the timeout passes. */
export class HttpHealthCheck implements HealthCheck {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #timeoutMs: number;

  constructor(pool: Pool, path: string, timeoutMs: number) {
    this.#pool = pool;
    this.#path = path;
    this.#timeoutMs = timeoutMs;
  }

  async probe(): Promise<ProbeResult> {
    try {
      const res = await this.#pool.request({
        method: 'GET',
        path: this.#path,
        headers: { 'user-agent': 'meshlet-health-check' },
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      await res.body.dump();
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      return { ok, detail: `GET ${this.#path} answered ${res.statusCode}` };
    } catch (e) {
      const err = e as Error & { code?: string };
      const detail =
        err.name === 'TimeoutError' || err.name === 'AbortError'
          ? `no answer within ${this.#timeoutMs} ms`
          : (err.code ?? err.message);
      return { ok: false, detail: `GET ${this.#path} failed: ${detail}` };
    }
  }
}
