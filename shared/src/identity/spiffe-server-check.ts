import type { PeerCertificate } from 'node:tls';
import { MeshletError, SharedErrorCodes } from '../errors.js';
import { formatSpiffeId } from './spiffe-id.js';
import { x509 } from './x509.js';

/**
 * A `checkServerIdentity` for `tls.connect` that checks the callee is the
 * service the caller meant to reach: its certificate's one URI SAN must be
 * `spiffe://<trustDomain>/svc/<expectedService>`. It replaces the DNS host
 * name check (workload certificates name no host); the chain itself is
 * checked by TLS against the trust bundle given as `ca`, before this runs.
 * Synchronous, as Node requires, so the handshake fails before a byte of the
 * request is sent.
 */
export function spiffeServerCheck(
  trustDomain: string,
  expectedService: string,
): (host: string, cert: PeerCertificate) => Error | undefined {
  const expected = formatSpiffeId({ trustDomain, service: expectedService });
  return (_host, cert) => {
    let uris: string[];
    try {
      const san = new x509.X509Certificate(cert.raw).getExtension(x509.SubjectAlternativeNameExtension);
      uris = (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
    } catch {
      uris = [];
    }
    if (uris.length === 1 && uris[0] === expected) return undefined;
    return new MeshletError(
      SharedErrorCodes.PEER_IDENTITY_REFUSED,
      `peer refused (wrong-service): the callee is ${uris.join(', ') || 'no SPIFFE ID'}, not ${expected}`,
    );
  };
}
