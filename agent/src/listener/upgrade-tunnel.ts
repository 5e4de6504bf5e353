import { type IncomingMessage, STATUS_CODES } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { httpErrorBody, type MeshletHttpError } from '@meshlet/shared';
import { ERROR_HEADER } from '../errors.js';
import { isSpoofableIdentityHeader } from './caller-headers.js';
import { HOP_BY_HOP } from './hop-headers.js';

/** Request headers for an upgrade: hop-by-hop ones dropped except `Upgrade`, with `Connection: Upgrade`. */
function upgradeHead(
  req: IncomingMessage,
  path: string,
  host: string | undefined,
  extra: Record<string, string>,
  stripIdentity: boolean,
): string {
  const named = new Set(
    (req.headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.trim()),
  );
  let head = `${req.method ?? 'GET'} ${path} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    // Upgrade is the one hop-by-hop header an upgrade must carry on.
    if (lower !== 'upgrade' && (HOP_BY_HOP.has(lower) || named.has(lower))) continue;
    if (lower === 'host' && host !== undefined) continue;
    if (lower in extra || (stripIdentity && isSpoofableIdentityHeader(lower))) continue;
    head += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  if (host !== undefined) head += `host: ${host}\r\n`;
  for (const [k, v] of Object.entries(extra)) head += `${k}: ${v}\r\n`;
  return `${head}connection: Upgrade\r\n\r\n`;
}

/** How long a refused upgrade's connection may stay open for its answer to be read. */
const REFUSAL_LINGER_MS = 2_000;

/** Answers an upgrade (or CONNECT) request that could not be carried, on the raw socket; `extra` joins the JSON body. */
export function refuseUpgrade(socket: Duplex, err: MeshletHttpError, extra: Record<string, unknown> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(httpErrorBody(err, extra));
  // What the caller sends after the request is read and dropped (so that its end, and our close, can come), and the
  // connection closed after a short linger at most: a caller that keeps sending, or never closes, cannot hold it.
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  socket.end(
    `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? 'Error'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${ERROR_HEADER}: ${err.code}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Options of {@link tunnelUpgrade}. */
export interface TunnelOptions {
  host: string;
  port: number;
  path: string;
  /** Replaces the `Host` header when given. */
  hostHeader?: string;
  /** Headers added to the upgrade request (trace context, the caller's identity). */
  extraHeaders?: Record<string, string>;
  /** Drop the client's identity headers (`x-meshlet-*`, `x-forwarded-client-cert`): the inbound side, towards the app. */
  stripIdentityHeaders?: boolean;
  connectTimeoutMs: number;
  /** Makes the connection over mTLS instead (ready on `secureConnect`), or says why it cannot (the tunnel fails). */
  tlsSocket?: (() => TLSSocket | Error) | undefined;
  /** How long the upstream may take to answer the upgrade request; default 30 s. */
  headTimeoutMs?: number | undefined;
}

const DEFAULT_HEAD_TIMEOUT_MS = 30_000;
/** Largest response head accepted from the upstream. */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

/** The upstream's answer to the upgrade request: its head (and any bytes after it), and whether it is a `101`. */
interface UpgradeAnswer {
  switching: boolean;
  bytes: Buffer;
}

/**
 * Reads the upstream's response head (up to the blank line), then calls
 * `done` with it, or with undefined when none came in time, the head was too
 * large, or the upstream closed first. The socket is left paused-free: data
 * after the head is part of `bytes`, and what follows flows to whoever pipes.
 */
function awaitResponseHead(
  upstream: Socket,
  timeoutMs: number,
  done: (answer: UpgradeAnswer | undefined) => void,
): void {
  let buffered = Buffer.alloc(0);
  const finish = (answer: UpgradeAnswer | undefined) => {
    clearTimeout(timer);
    upstream.off('data', onData);
    upstream.off('end', onEnd);
    done(answer);
  };
  const timer = setTimeout(() => finish(undefined), timeoutMs);
  const onEnd = () => finish(undefined);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf('\r\n\r\n');
    if (end === -1) {
      if (buffered.length > MAX_RESPONSE_HEAD_BYTES) finish(undefined);
      return;
    }
    upstream.pause();
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(buffered.subarray(0, Math.min(end, 64)).toString('latin1'));
    finish({ switching: status?.[1] === '101', bytes: buffered });
  };
  upstream.on('data', onData);
  upstream.once('end', onEnd);
}

/** A response head with its `Connection` header replaced by `close` (the bytes after the head unchanged). */
function withConnectionClose(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  const lines = bytes
    .subarray(0, end)
    .toString('latin1')
    .split('\r\n')
    .filter((line, i) => i === 0 || !/^(connection|keep-alive):/i.test(line));
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`, 'latin1'),
    bytes.subarray(end + 4),
  ]);
}

/**
 * Carries an HTTP upgrade (WebSocket) to `host:port` as a byte tunnel: the
 * upgrade request is written to a new connection, and only once the
 * upstream answers `101 Switching Protocols` are both sides piped, so the
 * 101 and every frame after it pass through untouched, as Envoy's upgrade
 * support does. Any other answer is passed back on a connection that closes
 * after it, and nothing more the client sent reaches the upstream (it would
 * reach the app unparsed, past the policy and the header stripping).
 * Resolves `true` once connected, `false` (nothing written to the client)
 * when the connection could not be made, so that the caller may try another
 * endpoint.
 */
export function tunnelUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  o: TunnelOptions,
): Promise<{ ok: true } | { ok: false; error: Error }> {
  return new Promise((resolve) => {
    const secure = o.tlsSocket?.();
    if (secure instanceof Error) {
      resolve({ ok: false, error: secure });
      return;
    }
    const upstream: Socket = secure ?? connect({ host: o.host, port: o.port });
    const timer = setTimeout(
      () =>
        upstream.destroy(
          Object.assign(new Error(`connect timeout after ${o.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' }),
        ),
      o.connectTimeoutMs,
    );
    const onConnectError = (error: Error) => {
      clearTimeout(timer);
      resolve({ ok: false, error });
    };
    upstream.once('error', onConnectError);
    upstream.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      upstream.off('error', onConnectError);
      if (client.destroyed) {
        // The client left while we connected: nothing to carry.
        upstream.destroy();
        resolve({ ok: true });
        return;
      }
      upstream.setNoDelay(true);
      const fail = () => {
        upstream.destroy();
        client.destroy();
      };
      upstream.on('error', fail);
      client.on('error', fail);
      upstream.on('close', () => client.end());
      client.on('close', () => upstream.destroy());
      // Nothing the client sends goes upstream until the upstream agreed to switch protocols: bytes after the
      // upgrade request would otherwise reach the app unparsed, past every check, if it answers as plain HTTP.
      client.pause();
      upstream.write(upgradeHead(req, o.path, o.hostHeader, o.extraHeaders ?? {}, o.stripIdentityHeaders === true));
      awaitResponseHead(upstream, o.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS, (answer) => {
        if (answer === undefined) {
          fail();
          return;
        }
        if (answer.switching) {
          client.write(answer.bytes);
          if (head.length > 0) upstream.write(head);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
          return;
        }
        // Any other answer goes back as it is, on a connection that closes after it; the client's further bytes
        // are never carried.
        client.write(withConnectionClose(answer.bytes));
        upstream.pipe(client);
        upstream.on('end', () => client.end());
      });
      resolve({ ok: true });
    });
  });
}
