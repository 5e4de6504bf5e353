import {
  type Certificate,
  type Clock,
  type ErrorMessage,
  type Identity,
  type Logger,
  MeshletError,
  formatSpiffeId,
} from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import type { IssuedCertificate } from '../identity/certificate-authority.js';
import { SIGNING_RATE, type SigningBudget, signingBudgetOf } from '../identity/signing-budget.js';
import type { ControlPlaneMetrics } from '../metrics.js';

/** What signs workload certificates: the control plane's `CertificateAuthority`. */
export interface CertificateIssuer {
  readonly trustDomain: string;
  sign(
    csrPem: string,
    allowed: { service: string; instanceId: string; credentialId?: string | undefined },
  ): Promise<IssuedCertificate>;
  /** Checks a request as {@link sign} would, without signing: what fails here costs no share of the signing budget. */
  check?(csrPem: string, allowed: { service: string; instanceId: string }): Promise<unknown>;
  trustBundle(): string[];
}

/** The identity an admitted agent may be certified for: from its credential and hello, never from a request. */
export interface WorkloadGrant {
  service: string;
  instanceId: string;
  /** The per-service join credential the agent joined with (or its certificate names), written into the certificate. */
  credentialId?: string | undefined;
}

/** Why a request was refused, as `meshlet_cp_certificates_refused_total` counts it. */
export type CertificateRefusal =
  'invalid' | 'forbidden' | 'no_identity' | 'busy' | 'too_soon' | 'throttled' | 'duplicate' | 'ca_error';

/**
 * Fewest milliseconds between two requests of one stream. An agent renews at
 * about 70% of a lifetime of at least 5 s (identity.certificateTtl's floor); a stream asking faster is
 * not renewing, it is making the control plane sign in a loop.
 */
export const MIN_REQUEST_INTERVAL_MS = 1000;

/**
 * What one agent may be certified as: the service of the credential it was
 * admitted with (or, admitted without one, the service of the instance it
 * registered or, client-only, the service its hello names: all the control
 * plane knows of it then), and the
 * instance id of its hello or, for a client-only agent, its agent id.
 * Undefined when it has no service: a client-only agent admitted without a
 * per-service credential that names no service.
 */
export function grantOf(
  hello: { agentId: string; instance?: { service: string; id: string } | undefined; service?: string | undefined },
  admittedFor: string | undefined,
): WorkloadGrant | undefined {
  // Without a per-service credential (the shared token), the hello's own word: the shared token is a key to every
  // identity, which is why it needs auth.allowSharedJoinToken.
  const service = admittedFor ?? hello.instance?.service ?? hello.service;
  if (service === undefined) return undefined;
  return { service, instanceId: hello.instance?.id ?? hello.agentId };
}

/** `grant` bound to the join credential behind it, if any: its certificates name it, and its revocation cuts them off. */
export function withCredential(
  grant: WorkloadGrant | undefined,
  credentialId: string | undefined,
): WorkloadGrant | undefined {
  return grant === undefined || credentialId === undefined ? grant : { ...grant, credentialId };
}

/** What {@link CertificateRequests} needs around it. */
export interface CertificateRequestsContext {
  /** Absent: this control plane signs nothing; the agent is told no identity, and a request is refused. */
  issuer?: CertificateIssuer | undefined;
  metrics: ControlPlaneMetrics;
  log: Logger;
  clock: Clock;
  /**
   * The agent id of another connected agent already certified for the same
   * service and instance, if any: two processes must not share an identity,
   * and the first one certified keeps it while it stays connected.
   */
  holderOf?: (grant: WorkloadGrant) => string | undefined;
  /** Told of every certificate issued (the session keeps it in the agent's record for `/v1/agents`). */
  issued?: (certificate: { spiffeId: string; serialNumber: string; notAfter: number; issuer: string }) => void;
}

/**
 * One stream's certificate requests: tells the agent its identity, signs
 * its `csr` messages for that identity only, one at a time and at most one a
 * second, and answers each with a `certificate` or an `error` naming why
 * (`field: csrPem`). Every issue and refusal is counted and logged with the
 * agent, never with key material (the request holds none, the answer none
 * secret).
 */
export class CertificateRequests {
  readonly #ctx: CertificateRequestsContext;
  readonly #agentId: string;
  readonly #grant: WorkloadGrant | undefined;
  readonly #send: (message: Certificate | ErrorMessage | Identity) => void;
  readonly #budget: SigningBudget;
  #signing = false;
  #issued = false;
  #lastAt: number | undefined;
  #closed = false;

  constructor(
    ctx: CertificateRequestsContext,
    agentId: string,
    grant: WorkloadGrant | undefined,
    send: (message: Certificate | ErrorMessage | Identity) => void,
    /** The stream authenticated with a valid certificate of `grant` (it holds that identity already). */
    presented = false,
  ) {
    this.#ctx = ctx;
    this.#issued = presented;
    this.#agentId = agentId;
    this.#grant = grant;
    this.#send = send;
    this.#budget = signingBudgetOf(ctx.metrics, ctx.clock);
  }

  /** The identity this stream was certified for (a certificate was issued on it, or it authenticated with one), if any. */
  get certified(): WorkloadGrant | undefined {
    return this.#issued ? this.#grant : undefined;
  }

  /** The `identity` message for the agent, or undefined when it has none to be certified for. */
  identity(): Identity | undefined {
    const issuer = this.#ctx.issuer;
    if (this.#grant === undefined || issuer === undefined) return undefined;
    const spiffeId = formatSpiffeId({ trustDomain: issuer.trustDomain, service: this.#grant.service });
    return {
      type: 'identity',
      spiffeId,
      instanceId: this.#grant.instanceId,
      trustBundlePem: issuer.trustBundle().join('\n') + '\n',
      ...(this.#grant.credentialId === undefined ? {} : { credentialId: this.#grant.credentialId }),
    };
  }

  /** Handles one `csr`; resolves when it was answered (tests wait on it). */
  async request(csrPem: string): Promise<void> {
    const ctx = this.#ctx;
    const grant = this.#grant;
    const issuer = ctx.issuer;
    if (issuer === undefined) {
      this.#refuse(
        'ca_error',
        ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
        'this control plane signs no certificates',
      );
      return;
    }
    if (grant === undefined) {
      this.#refuse(
        'no_identity',
        ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
        'this agent was admitted without a per-service join credential and registers no instance, so it has no ' +
          'service to be certified for; give it a credential: meshctl token create --service NAME',
      );
      return;
    }
    if (this.#signing) {
      this.#refuse(
        'busy',
        ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
        'a request of this agent is being signed; wait for its answer before sending another',
      );
      return;
    }
    const now = ctx.clock();
    if (this.#lastAt !== undefined && now - this.#lastAt < MIN_REQUEST_INTERVAL_MS) {
      this.#refuse(
        'too_soon',
        ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
        `requests come at most once every ${MIN_REQUEST_INTERVAL_MS} ms per agent; retry later`,
      );
      return;
    }
    this.#lastAt = now;
    const holder = ctx.holderOf?.(grant);
    if (holder !== undefined) {
      this.#refuse(
        'duplicate',
        ControlPlaneErrorCodes.CSR_IDENTITY_FORBIDDEN,
        `instance ${grant.instanceId} of ${grant.service} is already certified for connected agent ${holder}; ` +
          'two processes must not share an identity: give each instance its own instance id (a client-only ' +
          "agent's is its agent id, which must not be another instance's id)",
      );
      return;
    }
    this.#signing = true;
    try {
      // Checked before it takes from the shared budget: a request that cannot be signed costs nobody a signature.
      await issuer.check?.(csrPem, grant);
      if (!this.#budget.tryTake(grant.service)) {
        this.#refuse(
          'throttled',
          ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
          `the control plane signs at most ${SIGNING_RATE.perSecond} requests a second across all agents, and ` +
            `${SIGNING_RATE.perServicePerSecond} for one service; retry later`,
        );
        return;
      }
      // The bundle of the CA that signs this one, read with it (a rotation's step may land during the signature).
      const trustBundlePem = issuer.trustBundle().join('\n') + '\n';
      const issued = await issuer.sign(csrPem, grant);
      if (this.#closed) return;
      // X.509 dates are whole seconds: the leaf's notAfter, as peers read it.
      const notAfter = Math.floor(issued.notAfter.getTime() / 1000) * 1000;
      this.#issued = true;
      ctx.metrics.certificatesIssued.inc();
      ctx.issued?.({
        spiffeId: issued.spiffeId,
        serialNumber: issued.serialNumber,
        notAfter,
        issuer: issued.issuerFingerprint,
      });
      ctx.metrics.agentCertificateExpiry.set({ agent: this.#agentId }, Math.floor(notAfter / 1000));
      ctx.log.info(
        {
          agentId: this.#agentId,
          spiffeId: issued.spiffeId,
          instanceId: issued.instanceId,
          serialNumber: issued.serialNumber,
          notAfter: issued.notAfter.toISOString(),
        },
        'issued a workload certificate',
      );
      this.#send({
        type: 'certificate',
        certChainPem: issued.certificateChainPem,
        trustBundlePem,
        notAfter,
      });
    } catch (e) {
      const code = e instanceof MeshletError ? e.code : undefined;
      if (code === ControlPlaneErrorCodes.CSR_INVALID) this.#refuse('invalid', code, (e as Error).message);
      else if (code === ControlPlaneErrorCodes.CSR_IDENTITY_FORBIDDEN)
        this.#refuse('forbidden', code, (e as Error).message);
      else {
        ctx.log.error({ agentId: this.#agentId, err: (e as Error).message }, 'the CA could not sign');
        this.#refuse(
          'ca_error',
          ControlPlaneErrorCodes.CERTIFICATE_UNAVAILABLE,
          `the control plane's CA cannot sign now (${(e as Error).message}); the agent retries`,
        );
      }
    } finally {
      this.#signing = false;
    }
  }

  /**
   * The stream ended: no answer goes out any more. `gone`: no newer stream of
   * the agent took over, so its expiry is no longer shown.
   */
  close(gone: boolean): void {
    this.#closed = true;
    if (gone) this.#ctx.metrics.agentCertificateExpiry.remove({ agent: this.#agentId });
  }

  #refuse(reason: CertificateRefusal, code: string, message: string): void {
    const ctx = this.#ctx;
    ctx.metrics.certificatesRefused.inc({ reason });
    // One line per agent per 10 s: an agent asking in a loop must not flood the log.
    const logged = this.#budget.logRefusal(this.#agentId);
    if (logged !== undefined) {
      ctx.log.warn(
        {
          agentId: this.#agentId,
          service: this.#grant?.service,
          instanceId: this.#grant?.instanceId,
          reason,
          code,
          suppressedSinceLastLog: logged.suppressed,
        },
        `refused a certificate signing request: ${message}`,
      );
    }
    if (!this.#closed) this.#send({ type: 'error', code, message: message.slice(0, 4000), field: 'csrPem' });
  }
}
