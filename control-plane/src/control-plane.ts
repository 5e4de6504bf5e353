import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import websocket from '@fastify/websocket';
import {
  CloseCodes,
  type ControlPlaneConfig,
  createAgentMessageDecoder,
  type Logger,
  resolvePolicy,
  type ServicePolicy,
  type ServiceRoutes,
  type ValidationIssue,
} from '@meshlet/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { registerReadRoutes } from './api/read-routes.js';
import { requireBearer } from './api/require-bearer.js';
import { createMetrics } from './metrics.js';
import { Pusher } from './push/pusher.js';
import { Registry } from './registry/registry.js';
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';
import { AgentSession, type SessionContext } from './stream/agent-session.js';

const SERVICES_KEY = 'services';

/** Whether `host` only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Checks what a schema cannot: a control plane reachable from other hosts
 * must authenticate agents and operators.
 */
export function checkSecurity(config: ControlPlaneConfig): ValidationIssue[] {
  if (isLoopback(config.listen.host) || config.auth.allowInsecureRemote) return [];
  const issues: ValidationIssue[] = [];
  const fix = 'set a random token of at least 16 characters, or listen on 127.0.0.1';
  if (!config.auth.joinToken) issues.push({ path: 'auth.joinToken', problem: `is required when listen.host is ${config.listen.host}`, fix });
  if (!config.auth.adminToken) issues.push({ path: 'auth.adminToken', problem: `is required when listen.host is ${config.listen.host}`, fix });
  return issues;
}

/**
 * Attaches each service's policy (configured, or all defaults) to its routes,
 * and adds configured services that no instance has registered yet.
 */
export function withPolicies(services: Record<string, ServiceRoutes>, policies: Record<string, ServicePolicy>): Record<string, ServiceRoutes> {
  const defaults = resolvePolicy({});
  for (const name of Object.keys(policies)) services[name] ??= { endpoints: [] };
  for (const [name, routes] of Object.entries(services)) routes.policy = policies[name] ?? defaults;
  return services;
}

/** A running control plane: store, registry, pusher, stream and admin API on one fastify server. */
export class ControlPlane {
  readonly #config: ControlPlaneConfig;
  readonly #log: Logger;
  readonly #store: Store;
  readonly #metrics = createMetrics();
  readonly #sessions = new Map<string, AgentSession>();
  #app: FastifyInstance | undefined;
  #pusher: Pusher | undefined;
  #sweeper: NodeJS.Timeout | undefined;

  constructor(config: ControlPlaneConfig, log: Logger, store: Store = new FileStore(config.dataDir)) {
    this.#config = config;
    this.#log = log;
    this.#store = store;
  }

  /** Opens the store and starts listening. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    const config = this.#config;
    const log = this.#log;
    const clock = Date.now;
    await this.#store.open();

    const pusher = new Pusher({
      build: () => withPolicies(registry.routingServices(), config.services),
      store: this.#store,
      log,
      clock,
      nonce: () => randomBytes(8).toString('hex'),
      debounceMs: config.push.debounceMs,
      maxDelayMs: config.push.maxDelayMs,
      startupGraceMs: config.push.startupGraceMs,
      onVersion: (v) => this.#metrics.tableVersion.set(v),
    });
    const registry = new Registry({
      clock,
      onChange: () => pusher.schedule(),
      // A service name, once seen, is configuration: remembered across restarts.
      onNewService: (names) => {
        this.#store.put(SERVICES_KEY, names).catch((e: unknown) => log.error({ err: e }, 'could not persist services'));
      },
      knownServices: this.#store.get<string[]>(SERVICES_KEY) ?? [],
    });
    this.#pusher = pusher;

    const ctx: SessionContext = {
      registry,
      pusher,
      metrics: this.#metrics,
      log,
      clock,
      decode: createAgentMessageDecoder(config.stream.maxMessageBytes),
      helloTimeoutMs: config.stream.helloTimeoutMs,
      joinToken: config.auth.joinToken,
      sessions: this.#sessions,
    };

    const app: FastifyInstance = Fastify({
      loggerInstance: log.child({ component: 'http' }) as unknown as FastifyBaseLogger,
      logController: new LogController({ disableRequestLogging: true }),
    });
    this.#app = app;
    await app.register(websocket, {
      // Frames up to 4x the limit reach the decoder, which answers with a
      // reason; beyond that ws closes the stream with 1009 on its own.
      options: { maxPayload: config.stream.maxMessageBytes * 4 },
    });
    if (config.auth.adminToken) app.addHook('onRequest', requireBearer(config.auth.adminToken, ['/healthz', '/v1/stream']));
    app.get('/v1/stream', { websocket: true }, (socket, req) => {
      new AgentSession(socket, req.socket.remoteAddress ?? 'unknown', ctx);
    });
    registerReadRoutes(app, { registry, pusher, metrics: this.#metrics });

    try {
      await app.listen({ host: config.listen.host, port: config.listen.port });
    } catch (e) {
      pusher.close();
      await app.close().catch(() => undefined);
      throw e;
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
    this.#sweeper = setInterval(() => {
      for (const record of registry.silentAgents(config.heartbeat.timeoutMs)) {
        log.warn({ agentId: record.agentId }, 'agent missed its heartbeats; removing it from the routing table');
        this.#sessions.get(record.agentId)?.expire(config.heartbeat.timeoutMs);
      }
      registry.forget(config.registry.forgetAfterMs);
    }, config.heartbeat.checkIntervalMs);
    log.info({ host: config.listen.host, port, dataDir: config.dataDir, tableVersion: pusher.version }, 'control plane listening');
    return { host: config.listen.host, port };
  }

  /** Closes every stream with a reason, stops listening and flushes the store. */
  async stop(): Promise<void> {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#pusher?.close();
    for (const s of this.#sessions.values()) s.close(CloseCodes.GOING_AWAY, 'control plane shutting down');
    await this.#app?.close();
    await this.#store.close();
    this.#log.info('control plane stopped');
  }
}
