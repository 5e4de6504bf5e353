import type { TrustBundle } from '@meshlet/shared';
import { certificateFingerprint, credentialOfUnits, x509 } from '@meshlet/shared/identity';
import { rootsOf } from './check-issued-certificate.js';
import { pemCertificates } from './identity-tls.js';
import type { WorkloadCertificate } from './workload-identity.js';

/**
 * Why a trust bundle from the routing table cannot be used, or undefined:
 * it must hold a root that parses, and its issuers must parse (the table is
 * then NACKed and the bundle held is kept).
 */
export function trustProblem(trust: TrustBundle): string | undefined {
  const roots = pemCertificates(trust.rootsPem);
  if (roots.length === 0) return 'trust.rootsPem holds no PEM certificate; the control plane must send its roots';
  for (const [field, pems] of [
    ['trust.rootsPem', roots],
    ['trust.issuersPem', pemCertificates(trust.issuersPem)],
  ] as const) {
    for (const pem of pems) {
      try {
        certificateFingerprint(pem);
      } catch (e) {
        return `${field} holds a certificate that cannot be parsed (${(e as Error).message})`;
      }
    }
  }
  return undefined;
}

/** The certificate with the table's roots and issuers, or undefined when it already holds them. */
export function withTableTrust(current: WorkloadCertificate, trust: TrustBundle): WorkloadCertificate | undefined {
  const sameRoots = rootsOf(current.trustBundlePem) === rootsOf(trust.rootsPem);
  const sameIssuers = rootsOf(current.knownIssuersPem ?? '') === rootsOf(trust.issuersPem);
  if (sameRoots && sameIssuers) return undefined;
  return { ...current, trustBundlePem: trust.rootsPem, knownIssuersPem: trust.issuersPem };
}

/** The fingerprint of the issuer of a certificate chain (its second certificate), if it has one. */
export function issuerFingerprintOf(certChainPem: string): string | undefined {
  const issuer = pemCertificates(certChainPem)[1];
  if (issuer === undefined) return undefined;
  try {
    return certificateFingerprint(issuer);
  } catch {
    return undefined;
  }
}

/** The join credential the leaf of a chain was issued under (its `OU=meshlet-credential:<id>`), if it names one. */
export function credentialOfChain(certChainPem: string): string | undefined {
  const leaf = pemCertificates(certChainPem)[0];
  if (leaf === undefined) return undefined;
  try {
    return credentialOfUnits(new x509.X509Certificate(leaf).subjectName.getField('OU'));
  } catch {
    return undefined;
  }
}
