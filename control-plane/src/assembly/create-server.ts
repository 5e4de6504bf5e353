import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import {
  type Clock,
  ConfigError,
  type ControlPlaneConfig,
  connectionLimitsIssues,
  guardConnections,
  type Logger,
} from '@meshlet/shared';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { apiClientErrors } from '../api/api-client-errors.js';
import { apiFrameworkErrors, installApiErrors } from '../api/api-errors.js';
import { isIP } from 'node:net';
import { createAdminGuard } from '../api/admin-guard.js';
import { createAuth } from '../api/auth.js';
import { type AuthToken, tokensFromConfig } from '../api/auth-tokens.js';
import { DOCS_TITLE, DOCS_UI_OPTIONS } from '../api/docs-ui-options.js';
import { DOCS_SECURITY_HEADERS } from '../api/page-security-headers.js';
import { httpsOptions } from '../api/tls.js';
import type { createMetrics } from '../metrics.js';
import { endSocket } from '../stream/end-socket.js';
import { weakTokens } from '../api/weak-tokens.js';
import { isLoopback } from './check-security.js';

/**
 * Says at every start, at warn, what the operator chose that leaves the
 * control plane open: plain HTTP beyond loopback (`tls.allowPlaintextRemote`),
 * and tokens that look guessable (named, never shown). Only failures are
 * throttled, so a weak token is the one thing between a guesser and the API.
 */
function warnInsecure(config: ControlPlaneConfig, tls: boolean, tokens: readonly AuthToken[], log: Logger): void {
  if (!tls && !isLoopback(config.listen.host))
    log.warn(
      { listenHost: config.listen.host, setting: 'tls.allowPlaintextRemote' },
      'INSECURE: serving plain HTTP and ws:// beyond loopback; bearer tokens and join credentials cross the network unencrypted and anyone on the path can read or change them. Set tls.certFile and tls.keyFile',
    );
  for (const weak of weakTokens(tokens))
    log.warn(
      { tokenName: weak.name, reason: weak.reason },
      'a bearer token looks weak: use a random token of at least 128 bits, such as the output of "openssl rand -hex 24"',
    );
}

/** Admin API bodies larger than this are refused with 413 (a restore has its own, larger limit). */
const BODY_LIMIT = 1024 * 1024;

/**
 * The fastify server the stream and the admin API share: TLS if configured,
 * the API's error answers, the OpenAPI document, WebSocket support and the
 * bearer-token check on every route but the open ones, and the listener's
 * connection limits (`listen.limits`, counted in `metrics`). Routes come after.
 */
export async function createServer(
  config: ControlPlaneConfig,
  log: Logger,
  clock: Clock,
  metrics?: Pick<ReturnType<typeof createMetrics>, 'connectionsRefused' | 'connectionsOpen'>,
): Promise<FastifyInstance> {
  const issues = connectionLimitsIssues(config.listen.limits, 'listen.limits');
  if (issues.length > 0) throw new ConfigError('the listen.limits settings', issues);
  const https = await httpsOptions(config.tls);
  const tokens = await tokensFromConfig(config.auth);
  warnInsecure(config, https !== undefined, tokens, log);
  const docs = config.auth.protectDocs ? [] : ['/docs', '/docs/*'];
  const auth = createAuth({
    tokens,
    open: ['/healthz', '/v1/stream', ...docs, '/', '/dashboard/*'],
    log: log.child({ component: 'auth' }),
    clock,
    limits: { ipv6PrefixLength: config.listen.limits.ipv6PrefixLength },
  });
  const guard = createAdminGuard({
    tokensConfigured: tokens.length > 0,
    allowedHosts: [...(isIP(config.listen.host) === 0 ? [config.listen.host] : []), ...config.auth.allowedHosts],
    log: log.child({ component: 'auth' }),
  });
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }) as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    frameworkErrors: apiFrameworkErrors,
    clientErrorHandler: apiClientErrors,
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;
  const open = metrics?.connectionsOpen.labels('api');
  open?.set(0);
  guardConnections(app.server, {
    listener: 'api',
    limits: config.listen.limits,
    // Over TLS a plaintext 503 would be noise to the caller: the connection closes instead.
    refusal: https ? 'close' : 'http',
    answerClientErrors: false,
    onRefused: (reason) => metrics?.connectionsRefused.labels('api', reason).inc(),
    onOpen: (delta) => open?.inc(delta),
  });
  installApiErrors(app);
  await app.register(swagger, {
    openapi: {
      info: {
        title: DOCS_TITLE,
        version: '1',
        description: 'Services, instances, policies, failover, agents, events and snapshots. See docs/admin-api.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, DOCS_UI_OPTIONS);
  await app.register(websocket, {
    // Frames up to 4x the limit reach the decoder, which answers with a
    // reason; beyond that ws closes the stream with 1009 on its own.
    options: { maxPayload: config.stream.maxMessageBytes * 4 },
    // A frame over the limit (1009) is the peer's fault and its session logs it; only other errors are ours to log.
    // ws has sent its close frame: end the socket once that is out, without waiting for the peer's.
    errorHandler: (err, socket, req) => {
      if ((err as { code?: string }).code?.startsWith('WS_ERR_')) return endSocket(req.socket);
      req.log.error({ err }, 'agent stream failed');
      socket.terminate();
    },
  });
  // The OpenAPI page and its document get the dashboard's headers: no framing by another site, no foreign script.
  app.addHook('onSend', async (req, reply) => {
    if (req.url === '/docs' || req.url.startsWith('/docs/') || req.url.startsWith('/docs?'))
      reply.headers(DOCS_SECURITY_HEADERS);
  });
  app.addHook('onRequest', guard);
  app.addHook('onRequest', auth.hook);
  return app;
}
