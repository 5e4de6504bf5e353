import {
  type CryptoKeyPair,
  ECDSA_SHA256,
  formatSpiffeId,
  instanceCommonName,
  type SpiffeId,
  x509,
} from '@meshlet/shared/identity';

/** What an agent asks the control plane to certify. */
export interface CertificateRequestSubject {
  /** The workload identity: its URI becomes the request's one URI SAN. */
  spiffeId: SpiffeId;
  /** The instance that holds the key: the request's subject common name. */
  instanceId: string;
}

/**
 * A PKCS#10 certificate signing request (PEM) for `keys`, self-signed with
 * the private key so the control plane can check that the asker holds it.
 *
 * The SPIFFE ID is the one URI SAN, as the X.509-SVID specification requires
 * (verifiers such as go-spiffe refuse a certificate with two URI SANs, so the
 * instance id cannot be a second one). The instance id goes in the subject's
 * CN instead, as `<spiffe id>/instance/<instance id>` ({@link instanceCommonName}:
 * a form no host name can have): the subject is free in an SVID, every tool
 * shows the CN (`openssl x509 -subject`, Node's
 * `getPeerCertificate().subject.CN`), and it needs no private extension OID.
 * The control plane does not copy the request's subject: it checks it and
 * writes its own.
 */
export async function buildCertificateRequest(
  keys: CryptoKeyPair,
  subject: CertificateRequestSubject,
): Promise<string> {
  const uri = formatSpiffeId(subject.spiffeId);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [instanceCommonName(uri, subject.instanceId)] }],
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }])],
  });
  return csr.toString('pem');
}
