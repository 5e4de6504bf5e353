import { createHash, timingSafeEqual } from 'node:crypto';
import { type AuthRole, type Logger, systemClock } from '@meshlet/shared';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrors } from '../errors.js';
import { sendError } from './api-errors.js';
import { AuthFailures, type AuthFailureLimits, DEFAULT_AUTH_FAILURE_LIMITS } from './auth-failures.js';
import type { AuthToken } from './auth-tokens.js';

/** Options of {@link createAuth}. */
export interface AuthOptions {
  /** The configured tokens (see `tokensFromConfig`); none: every request is allowed. */
  tokens: readonly AuthToken[];
  /** Paths (without query) that need no token, such as `/healthz` and `/v1/stream` (which checks its own join token); a trailing `*` makes a prefix. */
  open: readonly string[];
  clock?: () => number;
  log: Logger;
  /** When wrong tokens make an address wait; defaults to {@link DEFAULT_AUTH_FAILURE_LIMITS}. */
  limits?: Partial<AuthFailureLimits>;
}

/** The admin API's authentication: an onRequest hook, and the role a request authenticated with. */
export interface Auth {
  /** The fastify onRequest hook: answers 401, 403 or 429 itself, or lets the request through. */
  hook: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  /**
   * The role of the bearer token a request carries: `admin` for every request
   * when no token is configured, `undefined` when it carries no valid one.
   */
  roleOf: (req: FastifyRequest) => AuthRole | undefined;
}

/** The configured token names requests authenticated with (see {@link tokenNameOf}). */
const tokenNames = new WeakMap<FastifyRequest, string>();

/**
 * The name of the configured token `req` authenticated with (`admin`,
 * `read-only`, or its name in `auth.tokensFile`), for events that record
 * who changed something; `undefined` when no token is configured.
 */
export function tokenNameOf(req: FastifyRequest): string | undefined {
  return tokenNames.get(req);
}

/** Methods a read-only token may use: they read, and change nothing. WebSocket and SSE subscriptions are GETs. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Who made a request, for the event log: the name of the bearer token it
 * authenticated with, or `anonymous` when no token is configured (the
 * loopback-only deployment). Never the token itself.
 */
export function operatorOf(req: FastifyRequest): string {
  return tokenNameOf(req) ?? 'anonymous';
}

interface Key {
  name: string;
  role: AuthRole;
  digest: Buffer;
}

/**
 * Finds the configured token that `given` is, in time that does not depend
 * on how much of it is right: both sides are hashed (so the lengths are
 * equal) and compared with `timingSafeEqual`, against every key, without
 * stopping at a match (so neither which token matched nor how many there
 * are before it shows in the timing).
 */
function findKey(keys: readonly Key[], given: string): Key | undefined {
  const digest = sha256(given);
  let found: Key | undefined;
  for (const key of keys) {
    const same = timingSafeEqual(key.digest, digest);
    if (same && found === undefined) found = key;
  }
  return found;
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235); undefined for another scheme. */
function bearerToken(header: string): string | undefined {
  const m = /^Bearer +([^\s]+) *$/i.exec(header);
  return m?.[1];
}

function unauthorized(reply: FastifyReply, invalid: boolean, message: string): FastifyReply {
  return sendError(
    reply.header(
      'www-authenticate',
      invalid ? 'Bearer realm="meshlet", error="invalid_token"' : 'Bearer realm="meshlet"',
    ),
    ApiErrors.UNAUTHORIZED(message),
  );
}

/**
 * Creates the admin API's authentication. Tokens are kept only as SHA-256
 * digests. With no token configured every request is allowed: that is the
 * loopback-only deployment, and the start-up check refuses a non-loopback
 * listener without an admin token.
 *
 * A request on an `open` path passes. Otherwise a request with a valid
 * token passes, always; one without gets 401 (a wrong token counts as a
 * failure, a missing one does not: a forgotten header is not a guess), and
 * once an address sent `maxFailures` wrong tokens within `windowMs` its
 * wrong tokens get 429 with `Retry-After` until `blockMs` after its last
 * one. Only failures are throttled, so that a guesser behind the same NAT
 * or ingress as the operators cannot lock them out; what keeps a guesser
 * out is the token's entropy (see `weakTokenWarnings`). A read-only token
 * gets 403 on a method that could change state, before any route runs.
 */
export function createAuth(options: AuthOptions): Auth {
  const log = options.log;
  const clock = options.clock ?? systemClock;
  const open = new Set(options.open.filter((p) => !p.endsWith('*')));
  const openPrefixes = options.open.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  const keys: Key[] = options.tokens.map((t) => ({ name: t.name, role: t.role, digest: sha256(t.token) }));
  const limits: AuthFailureLimits = { ...DEFAULT_AUTH_FAILURE_LIMITS, ...options.limits };
  const failures = new AuthFailures(limits, clock);
  const roles = new WeakMap<FastifyRequest, AuthRole | undefined>();

  const authenticate = (req: FastifyRequest): { key: Key | undefined; presented: boolean } => {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return { key: undefined, presented: false };
    const token = bearerToken(header);
    return { key: token === undefined ? undefined : findKey(keys, token), presented: true };
  };

  const hook = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (keys.length === 0) return undefined;
    const path = req.url.split('?')[0] ?? '';
    if (open.has(path) || openPrefixes.some((p) => path.startsWith(p))) return undefined;
    // The peer of the socket, not req.ip: X-Forwarded-For would let a guesser pick a fresh address per request.
    const address = req.socket.remoteAddress ?? 'unknown';
    const { key, presented } = authenticate(req);
    roles.set(req, key?.role);
    if (key) tokenNames.set(req, key.name);
    if (!key) {
      // Only failures are throttled: a valid token passed above even from a
      // blocked address, so a guesser behind the operators' NAT cannot lock
      // them out. A blocked address's wrong tokens are not logged one by one.
      const waitMs = presented ? failures.retryAfterMs(address) : 0;
      if (waitMs > 0) {
        const seconds = Math.ceil(waitMs / 1000);
        return sendError(
          reply.header('retry-after', String(seconds)),
          ApiErrors.TOO_MANY_AUTH_FAILURES(
            `too many requests with a wrong bearer token came from ${address}; retry in ${seconds} s with a valid token (a valid token is never refused)`,
          ),
        );
      }
      log.warn(
        { remoteAddress: address, method: req.method, path, reason: presented ? 'wrong token' : 'no token' },
        'refused an admin API request without a valid bearer token',
      );
      if (!presented)
        return unauthorized(
          reply,
          false,
          'send "Authorization: Bearer <token>" with an admin or read-only token (auth.adminToken, auth.readOnlyToken or auth.tokensFile)',
        );
      if (failures.fail(address)) {
        log.warn(
          { remoteAddress: address, failures: limits.maxFailures, retryAfterMs: limits.blockMs },
          'too many wrong bearer tokens from one address; answering its wrong tokens with 429 for a while (valid tokens still pass)',
        );
      }
      return unauthorized(
        reply,
        true,
        'the bearer token is not one this control plane knows: check the token, or ask for one',
      );
    }
    if (key.role === 'read-only' && !READ_METHODS.has(req.method)) {
      log.warn(
        { remoteAddress: address, method: req.method, path, tokenName: key.name },
        'refused a change requested with a read-only token',
      );
      return sendError(
        reply.header('www-authenticate', 'Bearer realm="meshlet", error="insufficient_scope"'),
        ApiErrors.FORBIDDEN(
          `the read-only token ${JSON.stringify(key.name)} cannot ${req.method} ${path}; use an admin token`,
        ),
      );
    }
    return undefined;
  };

  const roleOf = (req: FastifyRequest): AuthRole | undefined => {
    if (keys.length === 0) return 'admin';
    if (roles.has(req)) return roles.get(req);
    const role = authenticate(req).key?.role;
    roles.set(req, role);
    return role;
  };

  return { hook, roleOf };
}
