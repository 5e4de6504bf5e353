import { ADMIN_REQUEST_HEADER, AdminApiErrorCodes } from '@meshlet/shared/admin-api';
import { Agent, type Dispatcher, request } from 'undici';
import { errorFromAnswer, errorFromNetwork, parseApiError } from './answer-error.js';
import { CliError, CliErrorCodes } from './cli-error.js';
import { type Connection, displayUrl } from './connection.js';

/** How long a request waits for the answer's headers, and between body chunks. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A server-sent event stream sends a keep-alive comment every 15 s; three
 * missed ones mean the connection is dead even if TCP has not noticed.
 */
const STREAM_IDLE_TIMEOUT_MS = 45_000;

/** An answer read whole: its status and body text. */
export interface TextAnswer {
  status: number;
  text: string;
  /** The control plane that answered: the one connected to, or the leader it named (see {@link RequestOptions.followLeader}). */
  connection: Connection;
}

/** Options of a request. */
export interface RequestOptions {
  /** What the command is doing, for error messages (`policy/orders`). */
  context?: string;
  /** JSON body. */
  body?: unknown;
  signal?: AbortSignal;
  /**
   * For a decision that only the leader replica makes (manual failover and
   * failback): when a follower answers 503 `MESHLET_NOT_LEADER` naming the
   * leader's URL, the same request is sent once more, to that URL, with the
   * same token and CA; this is called first with both URLs (as shown in
   * messages), for a note. Once only: whatever the leader answers, even
   * another `MESHLET_NOT_LEADER`, is the answer.
   */
  followLeader?: (follower: string, leader: string) => void;
}

/** Where to resend a request a follower refused: the leader's URL, or why meshctl will not send it there. */
export type LeaderTarget = { url: string } | { refused: string };

/**
 * Reads a refusal for the leader's URL to resend the request to. None (the
 * error stands as it is) when it is not `MESHLET_NOT_LEADER`, names no
 * leader, names something other than an http(s) URL, or names `server`
 * itself (resending would only be refused again). Refused when `server` is
 * https and the leader plain http: the token would cross the network
 * unencrypted.
 */
export function leaderTarget(body: string, server: string): LeaderTarget | undefined {
  const e = parseApiError(body);
  if (e?.code !== AdminApiErrorCodes.NOT_LEADER || !e.leader) return undefined;
  let url: URL;
  try {
    url = new URL(e.leader);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash) return undefined;
  const leader = url.toString().replace(/\/+$/, '');
  if (leader === server) return undefined;
  if (url.protocol === 'http:' && server.startsWith('https:')) {
    return {
      refused: `meshctl did not resend it to the leader at ${displayUrl(leader)}: that URL is plain http and the token would cross the network unencrypted; use https:// in the leader's store.etcd.advertiseUrl, or send it there yourself with --server`,
    };
  }
  return { url: leader };
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
    // x-meshlet-request: a control plane without tokens refuses a write without it or a JSON body (a web page cannot send it across sites).
    const h: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'meshctl',
      [ADMIN_REQUEST_HEADER]: 'meshctl',
      ...extra,
    };
    if (this.connection.token) h.authorization = `Bearer ${this.connection.token}`;
    return h;
  }

  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    options: RequestOptions,
    extra: Partial<Dispatcher.RequestOptions> = {},
  ): Promise<Dispatcher.ResponseData> {
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
      const { followLeader, ...once } = options;
      const target = followLeader && res.statusCode === 503 ? leaderTarget(text, this.connection.server) : undefined;
      if (followLeader && target && 'url' in target)
        return this.#resendToLeader(target.url, followLeader, method, path, once);
      const retryAfter = res.headers['retry-after'];
      const error = errorFromAnswer(
        {
          method,
          path,
          status: res.statusCode,
          body: text,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          context: options.context,
        },
        this.connection,
      );
      if (target && 'refused' in target)
        throw new CliError(error.code, `${error.message}; ${target.refused}`, {
          status: res.statusCode,
          apiCode: AdminApiErrorCodes.NOT_LEADER,
        });
      throw error;
    }
    return { status: res.statusCode, text, connection: this.connection };
  }

  /** Sends a request a follower refused to the leader it named, once, with the same token and CA. */
  async #resendToLeader(
    url: string,
    note: (follower: string, leader: string) => void,
    method: Dispatcher.HttpMethod,
    path: string,
    options: Omit<RequestOptions, 'followLeader'>,
  ): Promise<TextAnswer> {
    const follower = displayUrl(this.connection.server);
    note(follower, displayUrl(url));
    const leader = new AdminClient({
      ...this.connection,
      server: url,
      serverSource: `the leader named by ${follower}`,
    });
    try {
      return await leader.text(method, path, options);
    } finally {
      await leader.close().catch(() => undefined);
    }
  }

  /** Sends a request and parses the JSON answer. */
  async json<T = unknown>(method: Dispatcher.HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const a = await this.text(method, path, options);
    return parseAnswer<T>(a.text, method, path, a.connection);
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
    const res = await this.#send(
      'GET',
      path,
      { signal },
      { headers: this.#headers({ accept: 'text/event-stream', ...headers }), bodyTimeout: STREAM_IDLE_TIMEOUT_MS },
    );
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      throw errorFromAnswer({ method: 'GET', path, status: res.statusCode, body: text }, this.connection);
    }
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('text/event-stream')) {
      res.body.destroy();
      throw new CliError(
        CliErrorCodes.BAD_ANSWER,
        `GET ${path}: ${displayUrl(this.connection.server)} answered ${type || 'no content type'}, not text/event-stream`,
      );
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
    throw new CliError(
      CliErrorCodes.BAD_ANSWER,
      `${method} ${path}: ${displayUrl(conn.server)} did not answer JSON; is it a meshlet control plane?`,
    );
  }
}

/** Network errors are mapped for {@link AdminClient.stream} callers that read the body themselves. */
export function streamError(e: unknown, conn: Connection): CliError {
  return e instanceof CliError ? e : errorFromNetwork(e, conn, STREAM_IDLE_TIMEOUT_MS);
}
