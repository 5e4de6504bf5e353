import type { Logger, MeshletHttpError } from '@meshlet/shared';
import { AuthFailures, type AuthFailureLimits, DEFAULT_AUTH_FAILURE_LIMITS } from '../api/auth-failures.js';
import { ApiErrors } from '../errors.js';
import { type JoinDecision, WRONG_CREDENTIAL } from '../join/check-join.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { UnauthenticatedStreams } from './unauthenticated-streams.js';

/** What an upgrade of `/v1/stream` brings, as {@link StreamUpgrade.check} looks at it. */
export interface UpgradeRequest {
  /** The peer of the socket (never a forwarded-for header: a guesser would pick a fresh one each time). */
  address: string;
  /** The `Authorization` header, if any: `Bearer <join credential>`. */
  authorization: string | undefined;
  /** Whether a valid client certificate (issued under a credential still standing) authenticated the stream. */
  certified: boolean;
}

/** The upgrade may go on (with the credential it presented, and the unauthenticated place to give back), or is refused. */
export type UpgradeDecision =
  | { ok: true; credential?: string; release?: () => void }
  | { ok: false; error: MeshletHttpError; retryAfterSeconds?: number };

/** Wrong join credentials per address, shared by the upgrade and the hello (where old agents bring theirs). */
export interface JoinThrottle {
  /** How long `address` is still blocked, in ms (0: it is not). A valid credential passes all the same. */
  blockedForMs(address: string): number;
  /** Records a wrong credential from `address`. */
  failed(address: string): void;
}

/** What {@link StreamUpgrade} needs. */
export interface StreamUpgradeOptions {
  /** Checks a credential, whatever service it is for ({@link checkCredential}). */
  verify: (token: string) => JoinDecision;
  unauthenticated: UnauthenticatedStreams;
  metrics: ControlPlaneMetrics;
  log: Logger;
  clock: () => number;
  /** When wrong credentials block an address; the admin API's defaults (5 within 60 s block for 60 s). */
  limits?: Partial<AuthFailureLimits>;
}

/** The token of `Bearer <token>` (scheme case-insensitive); undefined for anything else. */
function bearer(header: string): string | undefined {
  return /^Bearer +([^\s]+) *$/i.exec(header)?.[1];
}

/**
 * The stream's gate at the HTTP upgrade, before any WebSocket message: the
 * join credential the agent sends in `Authorization: Bearer` is checked
 * there, so a stranger gets a 401 instead of a socket. An upgrade without
 * one (an agent older than the header) goes on only while its address and
 * the whole control plane hold fewer unauthenticated streams than the caps;
 * its hello then brings the credential.
 *
 * Wrong credentials are throttled per address like the admin API's wrong
 * tokens (5 within 60 s block for 60 s), but only wrong ones: while an
 * address is blocked, a wrong credential gets 429 (and no log line each),
 * a valid one is let through, so an agent behind the same NAT as a
 * misconfigured or hostile one still joins. Credentials are long random
 * secrets, so the throttle is not what stops guessing; it bounds what a
 * misbehaving address costs (log lines, checks, sockets) and tells it to
 * back off with `Retry-After`.
 */
export class StreamUpgrade implements JoinThrottle {
  readonly #o: StreamUpgradeOptions;
  readonly #failures: AuthFailures;
  readonly #limits: AuthFailureLimits;

  constructor(options: StreamUpgradeOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_AUTH_FAILURE_LIMITS, ...options.limits };
    this.#failures = new AuthFailures(this.#limits, options.clock);
  }

  blockedForMs(address: string): number {
    return this.#failures.retryAfterMs(address);
  }

  failed(address: string): void {
    if (this.#failures.fail(address)) {
      this.#o.log.warn(
        { remoteAddress: address, failures: this.#limits.maxFailures, retryAfterMs: this.#limits.blockMs },
        'too many wrong join credentials from one address; refusing its wrong ones with 429 for a while (valid ones still join)',
      );
    }
  }

  /** Decides an upgrade of `/v1/stream`. */
  check(req: UpgradeRequest): UpgradeDecision {
    const { metrics, log } = this.#o;
    // A valid certificate decides, as it does the hello: the credential beside it (expired, say, after bootstrap) is
    // not looked at.
    if (req.certified) return { ok: true };
    const header = req.authorization;
    if (header === undefined || header === '') return this.#unauthenticated(req.address);
    const token = bearer(header);
    // Another scheme is no guess (a proxy's own header, say): refused, not counted.
    if (token === undefined) {
      metrics.streamUpgradesRefused.inc({ reason: 'wrong_credential' });
      const message = 'send the join credential as "Authorization: Bearer <credential>"; no other scheme is taken';
      return { ok: false, error: ApiErrors.STREAM_UNAUTHORIZED(message) };
    }
    const decision = this.#o.verify(token);
    if (decision.ok) return { ok: true, credential: token };
    const waitMs = WRONG_CREDENTIAL.has(decision.reason) ? this.blockedForMs(req.address) : 0;
    if (waitMs > 0) {
      metrics.streamUpgradesRefused.inc({ reason: 'throttled' });
      const seconds = Math.ceil(waitMs / 1000);
      return {
        ok: false,
        retryAfterSeconds: seconds,
        error: ApiErrors.TOO_MANY_JOIN_FAILURES(
          `too many wrong join credentials came from ${req.address}; only a valid one is let in for ${seconds} s: ${decision.message}`,
        ),
      };
    }
    if (WRONG_CREDENTIAL.has(decision.reason)) this.failed(req.address);
    metrics.streamUpgradesRefused.inc({ reason: 'wrong_credential' });
    metrics.joinRefusals.inc({ reason: decision.reason });
    log.warn(
      { remoteAddress: req.address, credentialId: decision.credentialId, reason: decision.reason },
      `refused an agent stream at its upgrade: ${decision.message}`,
    );
    return { ok: false, error: ApiErrors.STREAM_UNAUTHORIZED(decision.message) };
  }

  #unauthenticated(address: string): UpgradeDecision {
    const place = this.#o.unauthenticated.take(address);
    if (place.ok) return { ok: true, release: place.release };
    const { metrics, log } = this.#o;
    metrics.streamUpgradesRefused.inc({ reason: place.limit === 'address' ? 'address_limit' : 'total_limit' });
    const message =
      place.limit === 'address'
        ? `${address} holds too many streams that have not said hello (stream.maxUnauthenticatedPerAddress); send the join credential as "Authorization: Bearer <credential>" at the upgrade (meshlet agents do), or wait for them to finish`
        : 'this control plane holds too many streams that have not said hello (stream.maxUnauthenticated); send the join credential as "Authorization: Bearer <credential>" at the upgrade, or retry later';
    log.debug({ remoteAddress: address, limit: place.limit }, 'refused an unauthenticated agent stream');
    return { ok: false, retryAfterSeconds: 1, error: ApiErrors.TOO_MANY_UNAUTHENTICATED_STREAMS(message) };
  }
}
