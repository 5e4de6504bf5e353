import { createHash, X509Certificate } from 'node:crypto';

/**
 * The fingerprint meshlet names a CA certificate by (the trust bundle's
 * `activeIssuer`, an ACK's `certificateIssuer`): the first 128 bits of the
 * SHA-256 of its DER, as lowercase hex. From the certificate's bytes, not its
 * key identifier, which an operator's issuer may lack or compute otherwise.
 */
export function certificateFingerprint(certificate: string | Uint8Array): string {
  const der = typeof certificate === 'string' ? new X509Certificate(certificate).raw : certificate;
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}
