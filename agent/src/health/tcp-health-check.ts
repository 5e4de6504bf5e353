import { connect } from 'node:net';
import type { HealthCheck, ProbeResult } from './health-check.js';

/** A TCP connection to the app's host and port opens within the timeout (then it is closed at once). */
export class TcpHealthCheck implements HealthCheck {
  readonly #app: { host: string; port: number };
  readonly #timeoutMs: number;

  constructor(app: { host: string; port: number }, timeoutMs: number) {
    this.#app = app;
    this.#timeoutMs = timeoutMs;
  }

  probe(): Promise<ProbeResult> {
    const { host, port } = this.#app;
    const what = `TCP connect to ${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      const finish = (ok: boolean, detail: string) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ ok, detail: `${what} ${detail}` });
      };
      const timer = setTimeout(
        () => finish(false, `failed: no connection within ${this.#timeoutMs} ms`),
        this.#timeoutMs,
      );
      socket.once('connect', () => finish(true, 'succeeded'));
      socket.once('error', (e: Error & { code?: string }) => finish(false, `failed: ${e.code ?? e.message}`));
    });
  }
}
