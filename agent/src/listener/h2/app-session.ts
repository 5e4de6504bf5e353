import { type ClientHttp2Session, connect as h2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { originOf } from '../origin-pools.js';
import { useFastAsyncBind } from './fast-async-bind.js';

/**
 * The inbound side's HTTP/2 session to the local app (cleartext, prior
 * knowledge), made on first use and again after it closes, fails or is
 * told to go away: every HTTP/2 request to the app is a stream on it.
 */
export class AppSession {
  readonly #origin: string;
  readonly #host: string;
  readonly #port: number;
  readonly #connectMs: number;
  #session: Promise<ClientHttp2Session> | undefined;

  constructor(host: string, port: number, connectMs: number) {
    // Every stream of the session pays for AsyncResource.bind: see useFastAsyncBind.
    useFastAsyncBind();
    this.#origin = originOf(host, port);
    this.#host = host;
    this.#port = port;
    this.#connectMs = connectMs;
  }

  /** The session, connected; rejects with the connect error (`ECONNREFUSED`, or `UND_ERR_CONNECT_TIMEOUT`). */
  get(): Promise<ClientHttp2Session> {
    if (this.#session === undefined) {
      const made = this.#connect();
      this.#session = made;
      const forget = (): void => {
        if (this.#session === made) this.#session = undefined;
      };
      made.then((s) => {
        s.once('close', forget);
        s.once('goaway', forget);
        s.on('error', forget);
      }, forget);
    }
    return this.#session;
  }

  async #connect(): Promise<ClientHttp2Session> {
    // No Nagle: a small frame (a unary call's answer) must not wait for the last one's ACK (40 ms with delayed ACKs).
    const session = h2Connect(this.#origin, {
      createConnection: () => netConnect({ host: this.#host, port: this.#port, noDelay: true }),
    });
    session.on('error', () => undefined);
    const timer = setTimeout(() => {
      session.destroy(
        Object.assign(new Error(`connect timeout after ${this.#connectMs} ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
      );
    }, this.#connectMs);
    try {
      await new Promise<void>((resolve, reject) => {
        session.once('connect', () => resolve());
        session.once('error', reject);
        session.once('close', () =>
          reject(Object.assign(new Error('the app closed the connection'), { code: 'ECONNREFUSED' })),
        );
      });
    } finally {
      clearTimeout(timer);
    }
    return session;
  }

  /** Closes the session; streams in flight finish. */
  close(): void {
    const s = this.#session;
    this.#session = undefined;
    s?.then(
      (session) => session.close(),
      () => undefined,
    );
  }
}
