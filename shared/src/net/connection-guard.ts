import { maxHeaderSize, type Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { ConnectionLimits } from '../config/connection-limits.js';
import { SharedErrorCodes } from '../errors.js';
import { addressKey } from './address-key.js';

/** Why a connection was refused or closed by a {@link ConnectionGuard}. */
export type ConnectionRefusal = 'max_connections' | 'per_address' | 'request_timeout';

/** Every {@link ConnectionRefusal}, for metrics declared up front. */
export const CONNECTION_REFUSALS: readonly ConnectionRefusal[] = ['max_connections', 'per_address', 'request_timeout'];

/** A refused connection lingers (to deliver its 503) at most this long. */
const LINGER_MS = 1_000;
/** At most this many refused connections linger at once; beyond, a refused connection is closed at once. */
const MAX_LINGERING = 64;

/** Options of {@link guardConnections}. */
export interface ConnectionGuardOptions {
  /** The listener's name in metrics and answers (`inbound`, `outbound`, `admin`, `api`...). */
  listener: string;
  limits: ConnectionLimits;
  /**
   * What a refused caller sees. `http`: a `503` JSON answer
   * (`MESHLET_CONNECTION_LIMIT`, `connection: close`, `retry-after: 1`),
   * then the connection closes. `close`: the connection closes without a
   * byte (a TLS listener, or one whose first bytes pick the protocol).
   */
  refusal: 'http' | 'close';
  /**
   * Whether to answer the server's client errors itself (timeouts,
   * malformed requests) as node:http would, counting the timeouts: for a
   * server with no `clientError` handler of its own (fastify has one, and
   * then the guard only counts).
   */
  answerClientErrors: boolean;
  /** Counts a refusal. */
  onRefused?: ((reason: ConnectionRefusal) => void) | undefined;
  /** Follows the open connections (a gauge). */
  onOpen?: ((delta: 1 | -1) => void) | undefined;
}

/**
 * The 431 a request over the header limit gets: node:http's bare answer said
 * neither which limit nor how to raise it, so a JSON body names both (the
 * limit is node's, process-wide: `http.maxHeaderSize`, set by
 * `--max-http-header-size`).
 */
function headersTooLarge(listener: string): string {
  const limit = maxHeaderSize;
  const body = JSON.stringify({
    error: {
      code: SharedErrorCodes.HEADERS_TOO_LARGE,
      message: `the request line and headers are over ${limit} bytes, the ${listener} listener's limit (node's --max-http-header-size); send fewer or smaller headers (a large cookie or token?), or raise the limit on every agent on the path: NODE_OPTIONS=--max-http-header-size=${limit * 2}`,
      listener,
      limitBytes: limit,
      setting: 'NODE_OPTIONS=--max-http-header-size',
    },
  });
  return `HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-meshlet-error: ${SharedErrorCodes.HEADERS_TOO_LARGE}\r\nconnection: close\r\n\r\n${body}`;
}

/** The answers node:http gives to client errors when no handler is installed (kept byte for byte), and ours. */
const CLIENT_ERROR_ANSWERS: Record<string, (listener: string) => string> = {
  HPE_HEADER_OVERFLOW: headersTooLarge,
  ERR_HTTP_REQUEST_TIMEOUT: () => 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/**
 * The connection caps and HTTP timeouts of one listener. node:http's own
 * `maxConnections` only drops connections, with no per-address cap and no
 * way to tell the caller why; this guard sits before the server's own
 * `connection` handlers (after any that replaced them, such as the
 * inbound listener's mTLS sniffing) and admits a connection only while
 * the listener and its source address are under their caps.
 */
export class ConnectionGuard {
  readonly #o: ConnectionGuardOptions;
  readonly #byAddress = new Map<string, number>();
  #open = 0;
  #lingering = 0;

  constructor(options: ConnectionGuardOptions) {
    this.#o = options;
  }

  /** Connections open now (admitted, not yet closed). */
  get open(): number {
    return this.#open;
  }

  /** Connections open now from `address`'s caller (its IPv6 prefix, see {@link addressKey}). */
  openFrom(address: string): number {
    return this.#byAddress.get(this.#key(address)) ?? 0;
  }

  #key(address: string | undefined): string {
    return addressKey(address, this.#o.limits.ipv6PrefixLength);
  }

  /** Admits `socket` or refuses it (answering or closing it as configured); true when admitted. */
  admit(socket: Socket): boolean {
    const { maxConnections, maxConnectionsPerAddress } = this.#o.limits;
    // One caller, one count: an IPv6 caller may hold a whole /64 of addresses (see addressKey).
    const address = this.#key(socket.remoteAddress);
    const fromAddress = this.#byAddress.get(address) ?? 0;
    const reason: ConnectionRefusal | undefined =
      maxConnections > 0 && this.#open >= maxConnections
        ? 'max_connections'
        : maxConnectionsPerAddress > 0 && fromAddress >= maxConnectionsPerAddress
          ? 'per_address'
          : undefined;
    if (reason !== undefined) {
      this.#o.onRefused?.(reason);
      this.#refuse(socket, reason);
      return false;
    }
    this.#open++;
    this.#byAddress.set(address, fromAddress + 1);
    this.#o.onOpen?.(1);
    socket.once('close', () => {
      this.#open--;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#byAddress.delete(address);
      else this.#byAddress.set(address, left);
      this.#o.onOpen?.(-1);
    });
    return true;
  }

  /** Answers a client error of the server (see {@link ConnectionGuardOptions.answerClientErrors}). */
  clientError(err: Error & { code?: string }, socket: Socket): void {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') this.#o.onRefused?.('request_timeout');
    if (!this.#o.answerClientErrors) return;
    // No answer in progress on the connection (the first request, a keep-alive one, or the inside of a CONNECT tunnel,
    // whose `200 Connection established` is already written): the client is told why.
    if (socket.writable && !(socket as Socket & { _httpMessage?: unknown })._httpMessage)
      socket.write((err.code && CLIENT_ERROR_ANSWERS[err.code]?.(this.#o.listener)) || BAD_REQUEST);
    socket.destroy();
  }

  #refuse(socket: Socket, reason: ConnectionRefusal): void {
    socket.on('error', () => socket.destroy());
    if (this.#o.refusal === 'close' || this.#lingering >= MAX_LINGERING) {
      socket.destroy();
      return;
    }
    const { listener } = this.#o;
    const what =
      reason === 'max_connections'
        ? `the ${listener} listener has ${this.#open} connections open, its maxConnections`
        : `this address (counted as ${this.#key(socket.remoteAddress)}) has ${this.openFrom(socket.remoteAddress ?? '')} connections open to the ${listener} listener, its maxConnectionsPerAddress`;
    const body = JSON.stringify({
      error: {
        code: SharedErrorCodes.CONNECTION_LIMIT,
        message: `connection refused: ${what}; retry later, reuse connections (keep-alive), or raise the listener's limits`,
        listener,
        reason,
      },
    });
    // Said before the request is read: the caller may still be sending it, so what it sends is read and dropped
    // until it closes (or a short linger ends), lest closing with unread bytes reset the connection and lose the answer.
    this.#lingering++;
    socket.once('close', () => this.#lingering--);
    socket.setTimeout(LINGER_MS, () => socket.destroy());
    socket.resume();
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-meshlet-error: ${SharedErrorCodes.CONNECTION_LIMIT}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}

/**
 * Applies `options.limits` to `server` before it listens: its headers,
 * request and keep-alive timeouts (checked every second at most, not
 * node's 30 s, so a slow caller is closed close to its deadline), and a
 * {@link ConnectionGuard} in front of its `connection` handlers.
 */
export function guardConnections(server: HttpServer, options: ConnectionGuardOptions): ConnectionGuard {
  const { limits } = options;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  const timeouts = [limits.headersTimeoutMs, limits.requestTimeoutMs].filter((t) => t > 0);
  // Read when the server starts listening (node 20): the sweep that enforces both timeouts.
  (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.max(
    50,
    Math.min(1_000, ...timeouts.map((t) => Math.ceil(t / 4))),
  );
  const guard = new ConnectionGuard(options);
  const net = server as unknown as NetServer;
  const inner = net.listeners('connection') as Array<(socket: Socket) => void>;
  net.removeAllListeners('connection');
  net.on('connection', (socket: Socket) => {
    if (!guard.admit(socket)) return;
    for (const handler of inner) handler.call(server, socket);
  });
  server.on('clientError', (err: Error, socket) => guard.clientError(err, socket as Socket));
  return guard;
}
