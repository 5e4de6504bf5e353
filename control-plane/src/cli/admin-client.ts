import { Agent, type Dispatcher, request } from 'undici';
import { errorFromAnswer, errorFromNetwork } from './answer-error.js';
import { CliError, CliErrorCodes } from './cli-error.js';
import { type Connection, displayUrl } from './connection.js';

/** How long a request waits for the answer's headers, and between body chunks. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A server-sent event stream sends a keep-alive comment every 15 s; three
 * missed ones mean the connection is dead even if TCP has not noticed.
 */
const STREAM_IDLE_TIMEOUT_MS = 45_000;

/** An answer read whole: its status, body text and the JSON in it. */
export interface TextAnswer {
  status: number;
  text: string;
}

/** Options of a request. */
export interface RequestOptions {
  /** What the command is doing, for error messages (`policy/orders`). */
  context?: string;
  /** JSON body. */
  body?: unknown;
  signal?: AbortSignal;
}

/** A client of the control plane's admin API: JSON in, JSON out, every failure a {@link CliError} with one clear line. */
export class AdminClient {
  readonly connection: Connection;
  readonly #agent: Agent;

  constructor(connection: Connection) {
    this.connection = connection;
    this.#agent = new Agent({
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      connectTimeout: 10_000,
      ...(connection.ca ? { connect: { ca: connection.ca } } : {}),
    });
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'meshctl', ...extra };
    if (this.connection.token) h.authorization = `Bearer ${this.connection.token}`;
    return h;
  }

  async #send(method: Dispatcher.HttpMethod, path: string, options: RequestOptions, extra: Partial<Dispatcher.RequestOptions> = {}): Promise<Dispatcher.ResponseData> {
    const hasBody = options.body !== undefined;
    try {
      return await request(`${this.connection.server}${path}`, {
        method,
        dispatcher: this.#agent,
        headers: this.#headers(hasBody ? { 'content-type': 'application/json' } : {}),
        ...(hasBody ? { body: JSON.stringify(options.body) } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...extra,
      });
    } catch (e) {
      if (options.signal?.aborted) throw e;
      throw errorFromNetwork(e, this.connection, REQUEST_TIMEOUT_MS);
    }
  }

  /** Sends a request and reads the whole answer; any status of 400 or more becomes a {@link CliError}. */
  async text(method: Dispatcher.HttpMethod, path: string, options: RequestOptions = {}): Promise<TextAnswer> {
    const res = await this.#send(method, path, options);
    let text: string;
    try {
      text = await res.body.text();
    } catch (e) {
      throw errorFromNetwork(e, this.connection, REQUEST_TIMEOUT_MS);
    }
    if (res.statusCode >= 400) {
      const retryAfter = res.headers['retry-after'];
      throw errorFromAnswer(
        { method, path, status: res.statusCode, body: text, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, context: options.context },
        this.connection,
      );
    }
    return { status: res.statusCode, text };
  }

  /** Sends a request and parses the JSON answer. */
  async json<T = unknown>(method: Dispatcher.HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const a = await this.text(method, path, options);
    return parseAnswer<T>(a.text, method, path, this.connection);
  }

  /** `GET path` as JSON. */
  get<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.json<T>('GET', path, options);
  }

  /**
   * Opens a `text/event-stream`. Resolves with the open response once the
   * headers are in; an error status becomes a {@link CliError} (with
   * `status`), so a caller can tell a refusal from a lost connection.
   */
  async stream(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const res = await this.#send('GET', path, { signal }, { headers: this.#headers({ accept: 'text/event-stream', ...headers }), bodyTimeout: STREAM_IDLE_TIMEOUT_MS });
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      throw errorFromAnswer({ method: 'GET', path, status: res.statusCode, body: text }, this.connection);
    }
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('text/event-stream')) {
      res.body.destroy();
      throw new CliError(CliErrorCodes.BAD_ANSWER, `GET ${path}: ${displayUrl(this.connection.server)} answered ${type || 'no content type'}, not text/event-stream`);
    }
    return res;
  }

  /** Closes kept-alive connections so the process can exit. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

/** Parses an answer's JSON; anything else is a {@link CliError} naming the server. */
export function parseAnswer<T>(text: string, method: string, path: string, conn: Connection): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(CliErrorCodes.BAD_ANSWER, `${method} ${path}: ${displayUrl(conn.server)} did not answer JSON; is it a meshlet control plane?`);
  }
}

/** Network errors are mapped for {@link AdminClient.stream} callers that read the body themselves. */
export function streamError(e: unknown, conn: Connection): CliError {
  return e instanceof CliError ? e : errorFromNetwork(e, conn, STREAM_IDLE_TIMEOUT_MS);
}
