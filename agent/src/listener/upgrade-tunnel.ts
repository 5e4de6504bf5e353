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

/** Answers an upgrade request that could not be carried, on the raw socket. */
export function refuseUpgrade(socket: Duplex, err: MeshletHttpError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(httpErrorBody(err));
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
}

/**
 * Carries an HTTP upgrade (WebSocket) to `host:port` as a byte tunnel: the
 * upgrade request is written to a new connection and from then on both
 * sides are piped, so the upstream's `101 Switching Protocols` and every
 * frame after it pass through untouched, as Envoy's upgrade support does.
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
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(upgradeHead(req, o.path, o.hostHeader, o.extraHeaders ?? {}, o.stripIdentityHeaders === true));
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      resolve({ ok: true });
    });
  });
}
