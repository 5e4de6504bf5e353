import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Subscriptions } from '../control/subscriptions.js';
import { AgentErrors } from '../errors.js';
import { resolveDestination } from '../route/destination.js';
import type { RouteTable } from '../route/route-table.js';
import type { PassThrough } from './pass-through.js';
import { splitAuthority } from './pass-through.js';
import { refuseUpgrade } from './upgrade-tunnel.js';

/** What {@link ConnectTunnels} needs of its outbound listener. */
export interface ConnectTunnelOptions {
  table: () => RouteTable | undefined;
  /** Holds a CONNECT for a service not yet in the table, as a request is held (see `Subscriptions`). */
  subscriptions?: Subscriptions | undefined;
  /** A dedicated upstream port's service: a CONNECT there may name only it. */
  service?: string | undefined;
  /** Takes the inside of an established tunnel as a new client connection for `service` (`acceptConnection`). */
  accept: (socket: Socket, service: string) => void;
  /** `outboundTrafficPolicy.mode: allow-any`: hosts outside the mesh are tunnelled to as raw TCP; absent: refused. */
  passThrough?: PassThrough | undefined;
  /** Holds a raw pass-through tunnel's socket until it closes: the listener's close destroys it. */
  hold?: ((socket: Duplex) => void) | undefined;
}

/** What a client reads once its CONNECT is accepted; nothing else precedes the tunnelled bytes. */
export const CONNECT_ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';

/**
 * The outbound listener's answer to `CONNECT host:port`, the way proxy-aware
 * clients (undici's `ProxyAgent` and `EnvHttpProxyAgent`, Node's
 * `NODE_USE_ENV_PROXY`, `curl -p`, grpc-js through `grpc_proxy`) reach a
 * proxy. A host that is a mesh service (waiting for the table as a request
 * does, when the service is learned on first use) gets `200 Connection
 * established`, and the tunnelled bytes become a client connection of the
 * listener whose every request goes to that service, HTTP/1.1 or HTTP/2 by
 * its preface; the port is not looked at, as a request's `Host` port is
 * not. Any other host gets the same JSON answer a request for it gets (404
 * with the known services, or 503 with no table) on the CONNECT itself, and
 * the connection closes: a refused client hears why rather than a silent
 * close it would retry at once. Under `allow-any` it is tunnelled as raw
 * TCP to that host instead (see {@link PassThrough}).
 */
export class ConnectTunnels {
  readonly #o: ConnectTunnelOptions;

  constructor(options: ConnectTunnelOptions) {
    this.#o = options;
  }

  /** Handles the server's `connect` event. */
  async handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const target = splitAuthority(req.url ?? '', 80);
    if (target === undefined) {
      refuseUpgrade(
        socket,
        AgentErrors.BAD_REQUEST(
          `CONNECT needs a target host:port, such as "CONNECT hello:80", not "${(req.url ?? '').slice(0, 100)}"`,
        ),
      );
      return;
    }
    const dedicated = this.#o.service;
    if (dedicated !== undefined && target.host !== dedicated) {
      refuseUpgrade(
        socket,
        AgentErrors.BAD_REQUEST(
          `this is the dedicated port of service "${dedicated}": a CONNECT here may name only it ("CONNECT ${dedicated}:80"); reach "${target.host}" through the outbound listener`,
        ),
        { service: target.host },
      );
      return;
    }
    const service = target.host;
    if (!(await this.#known(service, socket))) {
      if (socket.destroyed) return;
      const table = this.#o.table();
      if (this.#o.passThrough !== undefined && dedicated === undefined && table !== undefined) {
        this.#o.hold?.(socket);
        await this.#o.passThrough.tunnel(socket, head, target);
        return;
      }
      // The refusal a request for the same name gets, word for word.
      const d = resolveDestination(table, req, { service, path: '/' });
      const refusal =
        'refusal' in d ? d : { refusal: AgentErrors.UNKNOWN_SERVICE(`service "${service}" is unknown`), extra: {} };
      refuseUpgrade(socket, refusal.refusal, refusal.extra);
      return;
    }
    socket.write(CONNECT_ESTABLISHED);
    if (head.length > 0) socket.unshift(head);
    this.#o.accept(socket as Socket, service);
  }

  /** Whether `service` is in the table, after the subscription wait a request would get; false also when the client left. */
  async #known(service: string, socket: Duplex): Promise<boolean> {
    const has = (): boolean => this.#o.table()?.service(service) !== undefined;
    if (has()) return true;
    const wait = this.#o.subscriptions?.wait(service, socket);
    if (wait === undefined) return false;
    return (await wait) === 'route' && has();
  }
}
