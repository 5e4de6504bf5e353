import type { Socket } from 'node:net';
import type { AgentConfig, InstanceRole, Logger } from '@meshlet/shared';
import { AgentErrorCodes } from '../errors.js';
import type { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import type { AgentMetrics } from '../metrics.js';
import type { MtlsConnector } from '../listener/mtls-connector.js';
import type { OutboundListener } from '../listener/outbound-listener.js';
import type { RouteTable } from '../route/route-table.js';
import { OpenTcpConnections } from './open-tcp-connections.js';
import { createTcpMetrics, type TcpMetrics } from './tcp-metrics.js';
import { TcpInbound, type TcpInboundOptions } from './tcp-inbound.js';
import { TcpOutbound, type TcpUpstream } from './tcp-outbound.js';
import { refuseRolePort } from './refuse-role-port.js';
import { reportTcpConnection } from './tcp-report.js';

/** What {@link TcpServices} is built with: the agent's shared parts. */
export interface TcpServicesParts {
  table: () => RouteTable | undefined;
  stats: EndpointStatsMap;
  /** The agent's metrics: the TCP ones join its registry. */
  metrics: Pick<AgentMetrics, 'registry'>;
  /** The agent's mTLS connector: endpoints that serve mTLS are dialled through it. */
  connector: () => MtlsConnector | undefined;
  /** The agent's logger; its access log (`accessLog.enabled`) is a child of it, component `access`. */
  log: Logger;
  clock: () => number;
}

/**
 * TCP services in one agent (see docs/databases.md): the dedicated upstream
 * ports that carry bytes for `protocol: tcp` services ({@link attach}), the
 * callee side ({@link serveInbound}), fencing on every table
 * ({@link onTable}), and their metrics.
 */
export class TcpServices {
  readonly metrics: TcpMetrics;
  readonly connections = new OpenTcpConnections();
  readonly #o: TcpServicesParts;
  readonly #config: AgentConfig;
  readonly #accessLog: Logger | undefined;
  readonly #outbound: TcpOutbound;
  readonly #waiters = new Set<() => void>();
  /** Services whose `role` port refusal was logged already (once per port, not per connection). */
  readonly #roleWarned = new Set<string>();
  /** The TCP connections taken and not closed yet, relayed or not (closed by {@link close}). */
  readonly #sockets = new Set<Socket>();
  #closed = false;
  #inbound: TcpInbound | undefined;

  constructor(config: AgentConfig, options: TcpServicesParts) {
    this.#o = options;
    this.#config = config;
    this.metrics = createTcpMetrics(options.metrics.registry);
    this.#accessLog = config.accessLog.enabled ? options.log.child({ component: 'access' }) : undefined;
    this.#outbound = new TcpOutbound({
      ...options,
      accessLog: this.#accessLog,
      metrics: this.metrics,
      connections: this.connections,
      log: options.log.child({ component: 'tcp' }),
    });
  }

  /**
   * Makes a dedicated upstream port decide per connection: once the table
   * has the service, a `protocol: tcp` service's connection is relayed as
   * bytes, any other goes to the port's HTTP handling as before, except on
   * a port with `role` (only the TCP relay honours it): refused. Call before
   * the port's server is guarded and bound (its limits then apply to both).
   */
  attach(listener: OutboundListener, upstream: TcpUpstream): void {
    const server = listener.server;
    server.removeAllListeners('connection');
    server.on('connection', (socket: Socket) => {
      if (!this.#track(socket)) return;
      this.#decide(socket, upstream).then(
        (tcp) => {
          if (tcp === undefined) return;
          if (tcp) this.#outbound.handle(socket, upstream).catch((e: unknown) => this.#failed(socket, e));
          else if (upstream.role !== undefined) this.#refuseRole(socket, { ...upstream, role: upstream.role });
          else {
            // The HTTP handling's own shutdown (a graceful drain) owns it from here.
            this.#sockets.delete(socket);
            listener.acceptConnection(socket);
          }
        },
        () => socket.destroy(),
      );
    });
  }

  /**
   * The callee side, for an agent fronting an instance of `authz.service`
   * (its app as the config says, its authorization context, its mTLS mode
   * and optionally its fence); the service's protocol and TCP settings are
   * read from the table in force per connection.
   */
  serveInbound(options: Pick<TcpInboundOptions, 'mode' | 'authz' | 'fence' | 'preambleTimeoutMs'>): TcpInbound {
    const own = () => this.#o.table()?.service(options.authz.service)?.policy;
    const app = this.#config.instance?.app ?? { host: '127.0.0.1', port: 0 };
    this.#inbound = new TcpInbound({
      ...options,
      app,
      connectTimeoutMs: this.#config.proxy.connectTimeoutMs,
      service: options.authz.service,
      protocol: () => own()?.protocol,
      tcp: () => own()?.tcp,
      log: this.#o.log.child({ component: 'tcp' }),
      metrics: this.metrics,
      accessLog: this.#accessLog,
      clock: this.#o.clock,
    });
    return this.#inbound;
  }

  /** Where the inbound listener hands a TCP connection (closed when the agent fronts no instance). */
  readonly acceptInbound = (socket: Socket, caller: string | undefined): void => {
    if (this.#inbound === undefined) socket.destroy();
    else if (this.#track(socket)) this.#inbound.accept(socket, caller).catch((e: unknown) => this.#failed(socket, e));
  };

  /** A new table: closes the connections it fences, wakes connections waiting for their service. */
  onTable(table: RouteTable): void {
    const fenced = this.connections.fence(table);
    if (fenced.length > 0)
      this.#o.log.warn(
        {
          version: table.version,
          fenced: fenced.map((c) => ({ service: c.service, endpoint: c.endpoint, term: c.term })),
        },
        'closed TCP connections to a primary the new table fences',
      );
    for (const wake of [...this.#waiters]) wake();
  }

  /**
   * Closes every TCP connection, both sides (the agent stops): the relayed
   * ones (close reason `shutdown`), and those not relaying yet (waiting for
   * their service, mid-dial, or connecting to the app), so that no
   * connection outlives the stop or is registered after it; connections
   * arriving later are closed at once.
   */
  close(): void {
    this.#closed = true;
    this.connections.closeAll('shutdown');
    this.#inbound?.close();
    for (const socket of [...this.#sockets]) socket.destroy();
    for (const wake of [...this.#waiters]) wake();
  }

  /** Follows `socket` until it closes; false (and closed) once the services are closed. */
  #track(socket: Socket): boolean {
    if (this.#closed) {
      socket.destroy();
      return false;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    return true;
  }

  /** A port with `role` whose service is not `protocol: tcp`: refused (see {@link refuseRolePort}), logged once per port. */
  #refuseRole(socket: Socket, upstream: { service: string; role: InstanceRole }): void {
    const svc = this.#o.table()?.service(upstream.service);
    const message = refuseRolePort(socket, upstream, svc !== undefined, svc?.policy.protocol);
    reportTcpConnection(
      { metrics: this.metrics, accessLog: this.#accessLog },
      {
        direction: 'outbound',
        service: upstream.service,
        role: upstream.role,
        result: 'role_unsupported',
        code: AgentErrorCodes.UPSTREAM_ROLE_UNSUPPORTED,
        message,
      },
    );
    if (this.#roleWarned.has(upstream.service)) return;
    this.#roleWarned.add(upstream.service);
    this.#o.log.warn({ service: upstream.service, code: AgentErrorCodes.UPSTREAM_ROLE_UNSUPPORTED }, message);
  }

  /** A TCP connection failed inside the agent (a bug): logged, and closed rather than left hanging. */
  #failed(socket: Socket, e: unknown): void {
    this.#o.log.error({ err: e }, 'TCP connection failed unexpectedly');
    socket.destroy();
  }

  /** true: TCP; false: HTTP; undefined: the client left while it waited. */
  async #decide(socket: Socket, upstream: TcpUpstream): Promise<boolean | undefined> {
    const known = (): boolean => this.#o.table()?.service(upstream.service) !== undefined;
    const waitMs = this.#config.controlPlane.subscribeWaitMs;
    if (!known() && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          if (!known() && !socket.destroyed) return;
          clearTimeout(timer);
          this.#waiters.delete(done);
          socket.off('close', gone);
          resolve();
        };
        const gone = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(gone, waitMs);
        this.#waiters.add(done);
        socket.once('close', gone);
      });
    }
    if (socket.destroyed) return undefined;
    return this.#o.table()?.service(upstream.service)?.policy.protocol === 'tcp';
  }
}
