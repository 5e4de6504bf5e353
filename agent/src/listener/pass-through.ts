import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type OutgoingHttpHeaders, request, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '@meshlet/shared';
import { AgentErrors } from '../errors.js';
import { HOP_BY_HOP } from './hop-headers.js';
import { sendJsonError } from './json-error.js';
import type { HostPort, PassThroughGuard } from './pass-through-guard.js';
import { refuseUpgrade, tunnelUpgrade } from './upgrade-tunnel.js';

/** What the outbound traffic policy says of hosts that are not mesh services (see `outboundTrafficPolicy.mode`). */
export type OutboundTrafficMode = 'registry-only' | 'allow-any';

/** Options of {@link PassThrough}. */
export interface PassThroughOptions {
  guard: PassThroughGuard;
  /** How long connecting to the host may take (the agent's `proxy.connectTimeoutMs`). */
  connectTimeoutMs: number;
  log: Logger;
}

/** Where a plain request outside the mesh goes: the host and port it names, and its path. */
export interface PassThroughTarget extends HostPort {
  path: string;
}

/** A `host[:port]` authority split, IPv6 brackets removed; the port `fallback` when absent; undefined when malformed. */
export function splitAuthority(authority: string, fallback: number | undefined): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/?#@[\]]+))(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const host = (m[1] ?? m[2] ?? '').toLowerCase();
  const port = m[3] === undefined ? fallback : Number(m[3]);
  if (host === '' || port === undefined || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** Where a plain request names: its absolute URL (`http://` only), or its `Host` with the origin-form path. */
export function passThroughTarget(req: IncomingMessage): PassThroughTarget | string {
  const url = req.url ?? '/';
  if (!url.startsWith('/')) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return `"${url}" is not a URL`;
    }
    if (u.protocol !== 'http:')
      return `${u.protocol}// is not passed through as a plain request: an https URL goes through a CONNECT tunnel`;
    const hp = splitAuthority(u.host, 80);
    return hp ? { ...hp, path: `${u.pathname}${u.search}` } : `"${u.host}" is not a host`;
  }
  const hp = splitAuthority(req.headers.host ?? '', 80);
  return hp ? { ...hp, path: url } : 'the request names no host: send an absolute URL or a Host header';
}

/** The request headers to pass on, as a flat list: hop-by-hop ones and those named in `Connection` dropped. */
function passedHeaders(req: IncomingMessage): string[] {
  const named = new Set(
    (req.headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((s) => s.trim()),
  );
  const out: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || lower === 'via') continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  // A chunked body is framed again on the next hop (found by review: without it, node sent the body unframed after a
  // GET's headers, where the host read it as a second request).
  if (req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined)
    out.push('transfer-encoding', 'chunked');
  return out;
}

/** A pass-through tunnel idle this long both ways is closed. */
const TUNNEL_IDLE_MS = 3_600_000;

/**
 * The `allow-any` half of the outbound traffic policy: a request, upgrade
 * or CONNECT naming a host that is not a mesh service is carried to that
 * host as a forward proxy would (no mTLS, no retries, no balancing: the
 * host is not the mesh's), after {@link PassThroughGuard} has checked where
 * it goes.
 */
export class PassThrough {
  readonly #o: PassThroughOptions;
  /** This agent's `Via` entry on the requests it passes through (RFC 9110 §7.6.3), one per agent process. */
  readonly #via = `1.1 meshlet-${randomUUID().slice(0, 8)}`;

  constructor(options: PassThroughOptions) {
    this.#o = options;
  }

  /** Relays a plain request to the host it names and its answer back. */
  async request(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = passThroughTarget(req);
    if (typeof target === 'string') {
      sendJsonError(res, AgentErrors.BAD_REQUEST(target));
      return;
    }
    if (req.headers.via?.includes(this.#via)) {
      // Came back through this very agent: a loop, whatever spelling of its address let it past the guard.
      sendJsonError(res, AgentErrors.PASSTHROUGH_FORBIDDEN('this request already passed through this agent: a loop'));
      return;
    }
    const checked = await this.#o.guard.check(target.host, target.port);
    // The client left during the lookup: nothing is opened for it.
    if (req.destroyed || res.destroyed) return;
    if (!checked.ok) {
      sendJsonError(res, AgentErrors.PASSTHROUGH_FORBIDDEN(checked.why), { host: target.host, port: target.port });
      return;
    }
    // The agent says 100 itself: the body then flows straight through (the host's own 100 is not relayed).
    if (/100-continue/i.test(req.headers.expect ?? '')) res.writeContinue();
    await new Promise<void>((resolve) => {
      const out = request({
        host: checked.address,
        port: target.port,
        method: req.method,
        path: target.path,
        headers: [
          ...passedHeaders(req),
          'via',
          req.headers.via ? `${req.headers.via}, ${this.#via}` : this.#via,
        ] as unknown as OutgoingHttpHeaders,
        setHost: false,
        agent: false,
        timeout: this.#o.connectTimeoutMs,
      });
      out.once('socket', (s: Socket) => s.once('connect', () => out.setTimeout(0)));
      out.on('timeout', () => out.destroy(new Error(`connect timeout after ${this.#o.connectTimeoutMs} ms`)));
      out.on('response', (answer) => {
        const headers: string[] = [];
        const raw = answer.rawHeaders;
        for (let i = 0; i < raw.length; i += 2)
          if (!HOP_BY_HOP.has((raw[i] as string).toLowerCase())) headers.push(raw[i] as string, raw[i + 1] as string);
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
        answer.pipe(res);
        answer.on('error', () => res.destroy());
        res.on('close', () => {
          answer.destroy();
          resolve();
        });
      });
      out.on('error', (e) => {
        this.#o.log.debug({ host: target.host, port: target.port, err: e.message }, 'pass-through request failed');
        sendJsonError(res, unreachable(target, e));
        resolve();
      });
      res.on('close', () => out.destroy());
      req.once('close', () => {
        if (!req.complete) out.destroy();
      });
      req.pipe(out);
    });
  }

  /** Carries a CONNECT to `target` as raw TCP: `200 Connection established` once connected, then bytes both ways. */
  async tunnel(socket: Duplex, head: Buffer, target: HostPort): Promise<void> {
    const checked = await this.#o.guard.check(target.host, target.port);
    if (socket.destroyed) return;
    if (!checked.ok) {
      refuseUpgrade(socket, AgentErrors.PASSTHROUGH_FORBIDDEN(checked.why), { ...target });
      return;
    }
    const upstream = connect({ host: checked.address, port: target.port });
    const timer = setTimeout(
      () => upstream.destroy(new Error(`connect timeout after ${this.#o.connectTimeoutMs} ms`)),
      this.#o.connectTimeoutMs,
    );
    const failed = (e: Error): void => {
      clearTimeout(timer);
      refuseUpgrade(socket, unreachable(target, e));
    };
    upstream.once('error', failed);
    socket.once('close', () => upstream.destroy());
    upstream.once('connect', () => {
      clearTimeout(timer);
      upstream.off('error', failed);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      // Idle both ways for an hour (Istio's TCP idle timeout): closed; the listener's close closes it too.
      upstream.setTimeout(TUNNEL_IDLE_MS, () => upstream.destroy());
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
  }

  /** Carries an upgrade (WebSocket) to the host it names, as the mesh's own upgrades are carried. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const target = passThroughTarget(req);
    if (typeof target === 'string') {
      refuseUpgrade(socket, AgentErrors.BAD_REQUEST(target));
      return;
    }
    const checked = await this.#o.guard.check(target.host, target.port);
    if (!checked.ok) {
      refuseUpgrade(socket, AgentErrors.PASSTHROUGH_FORBIDDEN(checked.why), { host: target.host, port: target.port });
      return;
    }
    const done = await tunnelUpgrade(req, socket, head, {
      host: checked.address,
      port: target.port,
      path: target.path,
      connectTimeoutMs: this.#o.connectTimeoutMs,
    });
    if (!done.ok) refuseUpgrade(socket, unreachable(target, done.error));
  }
}

function unreachable(target: HostPort, e: Error) {
  return AgentErrors.UPSTREAM_UNREACHABLE(
    `could not reach ${target.host}:${target.port}, a host outside the mesh passed through under outboundTrafficPolicy allow-any (${e.message})`,
  );
}
