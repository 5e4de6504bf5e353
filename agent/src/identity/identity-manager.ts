import {
  backoffDelay,
  type Certificate,
  type Clock,
  type Csr,
  type ErrorMessage,
  type Identity,
  type Logger,
  parseSpiffeId,
  type RandomSource,
  type TrustBundle,
} from '@meshlet/shared';
import type { WorkloadCertificate, WorkloadIdentity } from './workload-identity.js';
import { WorkloadKey } from './workload-key.js';
import { checkIssuedCertificate, type Expected, rootsOf, sharesRoot, TRUST_BREAK } from './check-issued-certificate.js';
import { loadPersistedIdentity, persistIdentity } from './persisted-identity.js';
import { type LongTimeout, setLongTimeout } from './long-timeout.js';
import { credentialOfChain, issuerFingerprintOf, trustProblem, withTableTrust } from './table-trust.js';

/** Options of {@link IdentityManager}. */
export interface IdentityManagerOptions {
  /** Sends a request on the stream; false when no stream is open. */
  send: (csr: Csr) => boolean;
  clock: Clock;
  /** Jitter of renewals and retries; seeded in tests. */
  random: RandomSource;
  log: Logger;
  /** First retry ceiling after a refused, lost or unanswered request; default 1 s. */
  retryInitialMs?: number;
  /** Longest retry delay; default 60 s. */
  retryMaxMs?: number;
  /** A request unanswered this long is given up and retried; default 10 s. */
  answerTimeoutMs?: number;
  /**
   * Where the certificate, chain, bundle and key are kept (one file, 0600) and
   * read back at start while still valid; absent: kept in memory only.
   */
  dataDir?: string | undefined;
  /** Makes the key of each request (a fresh one per certificate); default {@link WorkloadKey.generate}. */
  generateKey?: () => Promise<WorkloadKey>;
}

/** Renewal at 70% of a certificate's life, give or take 10% (uniform), so a fleet does not renew at once. */
const RENEW_AT = 0.7;
const RENEW_JITTER = 0.1;
/** An agent told of a new issuer renews within this long (uniform), so a fleet does not ask at once. */
const NEW_ISSUER_SPREAD_MS = 2000;

/**
 * The agent's workload certificate over its life: after every (re)connect,
 * when the control plane has said which identity it certifies, the agent
 * asks for a certificate unless it holds a valid one of that identity; it
 * renews at about 70% of the certificate's life (with jitter), retries a
 * refused, lost or unanswered request with backoff, and keeps the certificate
 * it holds until a new one arrives. Every request has a fresh key, made here
 * and never sent. An answer is installed only when it certifies that key, for
 * the identity expected, through a chain to the roots it came with.
 */
export class IdentityManager implements WorkloadIdentity {
  readonly #o: IdentityManagerOptions;
  readonly #listeners = new Set<(certificate: WorkloadCertificate) => void>();
  #current: WorkloadCertificate | undefined;
  #expected: Expected | undefined;
  #connected = false;
  #pending: { key: WorkloadKey; timer: NodeJS.Timeout } | undefined;
  #making = false;
  #attempt = 0;
  #renewAt: number | undefined;
  /** Set when the renewal timer fired: timers may fire a millisecond before the wall clock reaches `#renewAt`. */
  #renewDue = false;
  #renewTimer: LongTimeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The trust bundle of the last routing table, if any. */
  #trust: TrustBundle | undefined;
  /** Certificates installed in a row from another issuer than the table's active one (backs off the renewals). */
  #staleIssuer = 0;

  constructor(options: IdentityManagerOptions) {
    this.#o = options;
    if (options.dataDir === undefined) return;
    const kept = loadPersistedIdentity(options.dataDir, options.clock(), options.log);
    if (kept === undefined) return;
    this.#current = kept.certificate;
    this.#scheduleRenewal(kept.renewAtMs);
    options.log.info(
      { spiffeId: kept.certificate.spiffeId, notAfter: new Date(kept.certificate.notAfterMs).toISOString() },
      'serving the persisted workload certificate until the control plane renews it',
    );
  }

  /** The certificate held now (kept past its renewal time until a new one arrives). */
  current(): WorkloadCertificate | undefined {
    return this.#current;
  }

  /** {@inheritDoc WorkloadIdentity.onChange} */
  onChange(listener: (certificate: WorkloadCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The control plane said which identity it certifies (after every hello it
   * admits); resolves once any request this caused was sent (tests wait on it).
   */
  async onIdentity(message: Identity): Promise<void> {
    let id;
    try {
      id = parseSpiffeId(message.spiffeId, 'identity.spiffeId');
    } catch (e) {
      this.#o.log.error({ err: (e as Error).message }, 'the control plane named an identity that is not a SPIFFE ID');
      return;
    }
    const roots = message.trustBundlePem === undefined ? undefined : rootsOf(message.trustBundlePem);
    this.#expected = {
      spiffeId: message.spiffeId,
      ...id,
      instanceId: message.instanceId,
      roots,
      credentialId: message.credentialId,
    };
    const current = this.#current;
    if (current !== undefined && roots !== undefined && rootsOf(current.trustBundlePem) !== roots) {
      this.#o.log.warn(
        { spiffeId: message.spiffeId, notAfter: new Date(current.notAfterMs).toISOString() },
        "the control plane's CA certifies under other roots than this agent's certificate and trust bundle (the " +
          'CA changed); asking for a new certificate now, so peers certified by either can be checked',
      );
    }
    this.#connected = true;
    if (this.#needsCertificate()) await this.#request();
  }

  /**
   * The routing table carried the mesh's trust bundle: peers are checked
   * against its roots and issuers from now on (before the table is ACKed,
   * which is what a root rotation waits for), and a certificate from another
   * issuer than the one signing now is renewed soon. Returns why the bundle
   * cannot be used (the table is then NACKed), or undefined.
   */
  onTrust(trust: TrustBundle): string | undefined {
    const problem = trustProblem(trust);
    if (problem !== undefined) return problem;
    this.#trust = trust;
    if (this.#expected) this.#expected = { ...this.#expected, roots: rootsOf(trust.rootsPem) };
    const current = this.#current;
    if (current === undefined) return undefined;
    const updated = withTableTrust(current, trust);
    if (updated !== undefined) {
      this.#current = updated;
      this.#o.log.info({ generation: trust.generation }, 'took in the trust bundle of the routing table');
      this.#tell(updated);
      this.#persist(updated);
    }
    if (issuerFingerprintOf(current.certChainPem) !== trust.activeIssuer) {
      const at = this.#o.clock() + Math.floor(this.#o.random() * NEW_ISSUER_SPREAD_MS);
      if (this.#renewAt === undefined || this.#renewAt > at) {
        this.#o.log.info({ activeIssuer: trust.activeIssuer }, 'the mesh signs with a new issuer; renewing soon');
        this.#scheduleRenewal(at);
      }
    }
    return undefined;
  }

  /** The fingerprint of the issuer of the certificate held (an ACK carries it), if any. */
  certificateIssuer(): string | undefined {
    const current = this.#current;
    return current === undefined ? undefined : issuerFingerprintOf(current.certChainPem);
  }

  /** The stream closed: an answer to a request sent on it will not come. */
  onDisconnect(): void {
    this.#connected = false;
    this.#dropPending();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  /** The control plane refused a request (an `error` whose field is `csrPem`). */
  onError(message: ErrorMessage): void {
    if (this.#pending === undefined) return;
    this.#o.log.warn(
      { code: message.code, detail: message.message },
      'the control plane refused the certificate request',
    );
    this.#dropPending();
    this.#retryLater();
  }

  /** The control plane answered a request. */
  async onCertificate(message: Certificate): Promise<void> {
    const pending = this.#pending;
    const expected = this.#expected;
    if (pending === undefined || expected === undefined) {
      this.#o.log.warn('a certificate came that was not asked for; ignored');
      return;
    }
    this.#dropPending();
    const checked = await checkIssuedCertificate(message, pending.key, expected, this.#o.clock);
    if (typeof checked === 'string') {
      this.#o.log.error({ problem: checked }, 'refused the certificate the control plane sent; asking again later');
      this.#retryLater();
      return;
    }
    if (this.#stopped) return;
    if (this.#current && !sharesRoot(this.#current.trustBundlePem, message.trustBundlePem)) {
      // Accepted (docs/security.md, "No continuity check on new roots"), never quietly.
      this.#o.log.error({ spiffeId: expected.spiffeId }, TRUST_BREAK);
    }
    const now = this.#o.clock();
    // The table's bundle rules while it shares a root with the CA's (a rotation); a CA that changed outright does not.
    const trust =
      this.#trust !== undefined && sharesRoot(this.#trust.rootsPem, message.trustBundlePem) ? this.#trust : undefined;
    this.#current = {
      spiffeId: expected.spiffeId,
      trustDomain: expected.trustDomain,
      service: expected.service,
      instanceId: expected.instanceId,
      keyPem: await pending.key.privateKeyPem(),
      certChainPem: message.certChainPem,
      trustBundlePem: trust?.rootsPem ?? message.trustBundlePem,
      ...(trust === undefined ? {} : { knownIssuersPem: trust.issuersPem }),
      notAfterMs: checked.notAfterMs,
    };
    this.#attempt = 0;
    // The leaf's notBefore is backdated for peers' clock skew: its life is counted from now.
    const life = Math.max(0, checked.notAfterMs - now);
    const share = RENEW_AT + (this.#o.random() * 2 - 1) * RENEW_JITTER;
    const activeIssuer = this.#trust?.activeIssuer;
    if (activeIssuer !== undefined && issuerFingerprintOf(message.certChainPem) !== activeIssuer) {
      // Signed by another issuer than the mesh's active one (a replica that has not taken the rotation's step in
      // yet): renew again soon, backing off, rather than at 70% of a life that may be a day.
      const delay = Math.min(60_000, 1000 * 2 ** this.#staleIssuer++) + Math.floor(this.#o.random() * 1000);
      this.#scheduleRenewal(Math.min(now + delay, now + Math.floor(life * share)));
    } else {
      this.#staleIssuer = 0;
      this.#scheduleRenewal(now + Math.floor(life * share));
    }
    this.#o.log.info(
      { spiffeId: expected.spiffeId, notAfter: new Date(checked.notAfterMs).toISOString(), renewAt: this.#renewAt },
      'installed a workload certificate',
    );
    this.#tell(this.#current);
    this.#persist(this.#current);
  }

  #persist(certificate: WorkloadCertificate): void {
    const dataDir = this.#o.dataDir;
    if (dataDir === undefined || this.#renewAt === undefined) return;
    persistIdentity(dataDir, { certificate, renewAtMs: this.#renewAt }).catch((e: unknown) => {
      this.#o.log.warn(
        { err: (e as Error).message },
        'could not keep the workload certificate in the data directory; a restart without the control plane will have none',
      );
    });
  }

  /**
   * Calls every listener; one that throws (say, `tls.createSecureContext` on
   * a key it cannot use) is logged and the others still run: a listener's
   * bug must not stop renewals or kill the agent.
   */
  #tell(certificate: WorkloadCertificate): void {
    for (const listener of this.#listeners) {
      try {
        listener(certificate);
      } catch (e) {
        this.#o.log.error(
          { err: (e as Error).message, spiffeId: certificate.spiffeId },
          'a listener of the workload certificate failed; the certificate stays installed',
        );
      }
    }
  }

  /** Stops every timer; the certificate held stays readable. */
  stop(): void {
    this.#stopped = true;
    this.onDisconnect();
    this.#renewTimer?.clear();
  }

  #needsCertificate(): boolean {
    const current = this.#current;
    const expected = this.#expected;
    if (expected === undefined) return false;
    if (current === undefined) return true;
    if (current.spiffeId !== expected.spiffeId || current.instanceId !== expected.instanceId) return true;
    if (expected.roots !== undefined && rootsOf(current.trustBundlePem) !== expected.roots) return true;
    // Issued under another join credential (a revoked one): the control plane no longer takes it at login.
    if (expected.credentialId !== undefined && credentialOfChain(current.certChainPem) !== expected.credentialId)
      return true;
    return this.#renewDue || this.#renewAt === undefined || this.#o.clock() >= this.#renewAt;
  }

  async #request(): Promise<void> {
    const expected = this.#expected;
    if (this.#stopped || !this.#connected || expected === undefined || this.#pending || this.#making) return;
    if (this.#retryTimer) return;
    this.#making = true;
    let key: WorkloadKey;
    let csrPem: string;
    try {
      key = await (this.#o.generateKey ?? WorkloadKey.generate)();
      csrPem = await key.certificateRequest({
        spiffeId: { trustDomain: expected.trustDomain, service: expected.service },
        instanceId: expected.instanceId,
      });
    } catch (e) {
      this.#o.log.error({ err: (e as Error).message }, 'could not make a certificate request');
      this.#retryLater();
      return;
    } finally {
      this.#making = false;
    }
    if (!this.#connected || this.#stopped) return;
    const timer = setTimeout(() => {
      this.#o.log.warn({ timeoutMs: this.#answerTimeoutMs }, 'no answer to the certificate request; asking again');
      this.#pending = undefined;
      this.#retryLater();
    }, this.#answerTimeoutMs);
    timer.unref();
    this.#pending = { key, timer };
    if (!this.#o.send({ type: 'csr', csrPem })) this.#dropPending();
    else this.#o.log.debug({ spiffeId: expected.spiffeId }, 'sent a certificate request');
  }

  get #answerTimeoutMs(): number {
    return this.#o.answerTimeoutMs ?? 10_000;
  }

  #dropPending(): void {
    if (this.#pending) clearTimeout(this.#pending.timer);
    this.#pending = undefined;
  }

  /**
   * Tries again after an exponential backoff with full jitter above a floor
   * of `retryInitialMs` (the control plane refuses requests closer than a
   * second apart, so an immediate retry would only be refused).
   */
  #retryLater(): void {
    if (this.#stopped || this.#retryTimer) return;
    const initialMs = this.#o.retryInitialMs ?? 1000;
    const maxMs = this.#o.retryMaxMs ?? 60_000;
    const delay = Math.min(maxMs, initialMs + backoffDelay(this.#attempt++, { initialMs, maxMs }, this.#o.random));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#needsCertificate()) void this.#request();
    }, delay);
    this.#retryTimer.unref();
  }

  /** Renews at `at` (a timer safe past 2^31-1 ms: a long lifetime renewed in a loop otherwise). */
  #scheduleRenewal(at: number): void {
    this.#renewTimer?.clear();
    this.#renewAt = at;
    this.#renewDue = false;
    this.#renewTimer = setLongTimeout(at, this.#o.clock, () => {
      this.#renewTimer = undefined;
      this.#renewDue = true;
      // Not connected: the next identity message (after the reconnect) asks.
      if (this.#needsCertificate()) void this.#request();
    });
  }
}
