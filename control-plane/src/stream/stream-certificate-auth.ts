import type { Clock, Logger } from '@meshlet/shared';
import { credentialOfUnits, type PeerChain, peerChainDer, PeerIdentityVerifier, x509 } from '@meshlet/shared/identity';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { AgentRecord } from '../registry/agent-record.js';

/** The mesh CA's certificates a client certificate is checked against, PEM each. */
export interface StreamTrust {
  /** The roots of the trust bundle (during a root rotation, old and new). */
  roots: string[];
  /** The issuers between a leaf and a root (what Node's server side does not hand over with the client's leaf). */
  intermediates: string[];
}

/** The workload a stream's client certificate proves the agent to be. */
export interface CertifiedAgent {
  service: string;
  instanceId: string;
  /** The certificate's SPIFFE ID. */
  spiffeId: string;
  /** Its serial number, as hex. */
  serialNumber: string;
  /** When the certificate expires, ms since the epoch. */
  notAfterMs: number;
  /** The join credential the certificate was issued under, when it names one. */
  credentialId?: string;
}

/** Options of {@link StreamCertificateAuth}. */
export interface StreamCertificateAuthOptions {
  /**
   * Read at every authentication, never kept: a root rotation changes the
   * bundle while the control plane runs.
   */
  trust: () => StreamTrust;
  trustDomain: string;
  clock: Clock;
  metrics: ControlPlaneMetrics;
  log: Logger;
  /** At most one log line about ignored certificates this often; default 60 s. */
  logEveryMs?: number;
}

/** Verifiers kept for the latest bundles (a rotation has at most a few at once). */
const MAX_VERIFIERS = 4;

/**
 * Authenticates an agent's stream by the client certificate it presented in
 * the TLS handshake: a workload certificate that chains to the mesh CA's
 * roots, is valid by the control plane's clock, and names a service of this
 * trust domain and an instance. The handshake itself accepts any certificate
 * (`rejectUnauthorized: false`, so that bootstrap with a join credential, the
 * admin API and curl keep working); here an invalid, expired or foreign one
 * simply authenticates nobody, and the join credential decides. Those are
 * counted by reason and logged at most once a minute (with how many were
 * left out), never with the certificate's bytes.
 */
export class StreamCertificateAuth {
  readonly #o: StreamCertificateAuthOptions;
  readonly #verifiers = new Map<string, PeerIdentityVerifier>();
  #loggedAt = -Infinity;
  #suppressed = 0;

  constructor(options: StreamCertificateAuthOptions) {
    this.#o = options;
  }

  /** Who `peer` (the TLS socket's `getPeerCertificate(true)`) proves the agent to be, or undefined. */
  async authenticate(peer: PeerChain, remoteAddress: string): Promise<CertifiedAgent | undefined> {
    const verifier = this.#verifier();
    if (verifier === undefined) return undefined;
    const found = await verifier.verify(peer);
    if (!found.ok) {
      if (found.reason !== 'no-certificate') this.#ignored(found.reason, found.message, remoteAddress);
      return undefined;
    }
    if (found.instanceId === undefined) {
      this.#ignored('no-instance', `the certificate of ${found.uri} names no instance`, remoteAddress);
      return undefined;
    }
    const leaf = new x509.X509Certificate(peerChainDer(peer)[0] as Uint8Array);
    const credentialId = credentialOfUnits(leaf.subjectName.getField('OU'));
    return {
      service: found.id.service,
      instanceId: found.instanceId,
      spiffeId: found.uri,
      serialNumber: leaf.serialNumber,
      notAfterMs: found.notAfter.getTime(),
      ...(credentialId === undefined ? {} : { credentialId }),
    };
  }

  /** The verifier of the bundle in force now: one per bundle content, so its cache of verified chains survives. */
  #verifier(): PeerIdentityVerifier | undefined {
    const { roots, intermediates } = this.#o.trust();
    const key = `${roots.join('\n')}\u0000${intermediates.join('\n')}`;
    let verifier = this.#verifiers.get(key);
    if (verifier !== undefined) return verifier;
    try {
      verifier = new PeerIdentityVerifier({
        trustBundle: roots,
        knownIntermediates: intermediates,
        trustDomain: this.#o.trustDomain,
        clock: this.#o.clock,
      });
    } catch (e) {
      // An empty or unreadable bundle: nobody is certified, the credential path still works.
      this.#ignored('untrusted', (e as Error).message, 'local');
      return undefined;
    }
    this.#verifiers.set(key, verifier);
    if (this.#verifiers.size > MAX_VERIFIERS) this.#verifiers.delete(this.#verifiers.keys().next().value as string);
    return verifier;
  }

  #ignored(reason: string, message: string, remoteAddress: string): void {
    this.#o.metrics.streamCertificatesIgnored.inc({ reason });
    const now = this.#o.clock();
    if (now - this.#loggedAt < (this.#o.logEveryMs ?? 60_000)) {
      this.#suppressed++;
      return;
    }
    this.#o.log.warn(
      { remoteAddress, reason, suppressedSinceLastLog: this.#suppressed },
      `ignored a client certificate on the agent stream (the join credential decides instead): ${message}`,
    );
    this.#loggedAt = now;
    this.#suppressed = 0;
  }
}

/**
 * Shows the certificate an agent authenticated with as the one it holds
 * (`/v1/agents`, the expiry metric): an agent that reconnects with a valid
 * certificate asks for no new one until its renewal time.
 */
export function notePresented(record: AgentRecord, certificate: CertifiedAgent, metrics: ControlPlaneMetrics): void {
  const { spiffeId, serialNumber, notAfterMs } = certificate;
  record.certificate = { spiffeId, serialNumber, notAfter: notAfterMs };
  metrics.agentCertificateExpiry.set({ agent: record.agentId }, Math.floor(notAfterMs / 1000));
}
