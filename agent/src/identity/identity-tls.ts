import type { Clock } from '@meshlet/shared';
import { PeerIdentityVerifier } from '@meshlet/shared/identity';
import type { WorkloadCertificate } from './workload-identity.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `pem`, in order. */
export function pemCertificates(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/**
 * What both listeners give `node:tls` from a workload certificate: the key,
 * the leaf with its issuers, the trust bundle as the only CAs, TLS 1.3 only
 * (both ends are meshlet agents, so nothing older need be spoken).
 */
export function workloadTlsOptions(certificate: WorkloadCertificate): {
  key: string;
  cert: string;
  ca: string[];
  minVersion: 'TLSv1.3';
} {
  return {
    key: certificate.keyPem,
    cert: certificate.certChainPem,
    ca: pemCertificates(certificate.trustBundlePem),
    minVersion: 'TLSv1.3',
  };
}

/**
 * The peer verifier for a workload certificate: its trust bundle and trust
 * domain, and its own issuers as known intermediates (Node 24's server side
 * hands over only the client's leaf, so the callee rebuilds the path with
 * the mesh's issuers, which are its own).
 */
export function workloadVerifier(certificate: WorkloadCertificate, clock: Clock): PeerIdentityVerifier {
  return new PeerIdentityVerifier({
    trustBundle: pemCertificates(certificate.trustBundlePem),
    knownIntermediates: [
      ...pemCertificates(certificate.certChainPem).slice(1),
      ...pemCertificates(certificate.knownIssuersPem ?? ''),
    ],
    trustDomain: certificate.trustDomain,
    clock,
  });
}
