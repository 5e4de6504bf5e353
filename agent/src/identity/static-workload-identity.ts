import type { WorkloadCertificate, WorkloadIdentity } from './workload-identity.js';

/**
 * A {@link WorkloadIdentity} that holds what it is given: for a certificate
 * that comes from elsewhere (files an operator mounts, a test's own CA).
 * {@link StaticWorkloadIdentity.set} replaces it and tells the listeners,
 * as a renewal would.
 */
export class StaticWorkloadIdentity implements WorkloadIdentity {
  #current: WorkloadCertificate | undefined;
  readonly #listeners = new Set<(certificate: WorkloadCertificate) => void>();

  constructor(certificate?: WorkloadCertificate) {
    this.#current = certificate;
  }

  current(): WorkloadCertificate | undefined {
    return this.#current;
  }

  onChange(listener: (certificate: WorkloadCertificate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the certificate and calls every listener with it. */
  set(certificate: WorkloadCertificate): void {
    this.#current = certificate;
    for (const listener of [...this.#listeners]) listener(certificate);
  }

  /** What a log line or `JSON.stringify` shows: the identity, never the key. */
  toJSON(): { spiffeId: string | undefined; notAfterMs: number | undefined } {
    return { spiffeId: this.#current?.spiffeId, notAfterMs: this.#current?.notAfterMs };
  }
}
