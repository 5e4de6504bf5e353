import { Id, MeshletError } from '@meshlet/shared';
import {
  formatSpiffeId,
  instanceCommonName,
  instanceFromCommonName,
  parseSpiffeId,
  type SpiffeId,
  x509,
} from '@meshlet/shared/identity';
import { ControlPlaneErrorCodes } from '../errors.js';

/** What the sender of a request is allowed, from how it authenticated (never from the request). */
export interface AllowedIdentity {
  /** The mesh's trust domain. */
  trustDomain: string;
  /** The one service the sender may hold an identity of. */
  service: string;
  /**
   * The instance the sender was admitted as (the hello's instance id, or the
   * agent id of a client-only agent): the request must name it. Required, so
   * that no caller can leave the instance to the request.
   */
  instanceId: string;
}

/** A request that passed {@link checkCertificateRequest}. */
export interface CheckedRequest {
  publicKey: x509.PublicKey;
  spiffeId: SpiffeId;
  spiffeUri: string;
  instanceId: string;
}

const ID_PATTERN = new RegExp(Id.pattern as string);
const ID_MAX = Id.maxLength as number;

const invalid = (message: string): MeshletError =>
  new MeshletError(ControlPlaneErrorCodes.CSR_INVALID, `certificate signing request refused: ${message}`);

const forbidden = (message: string): MeshletError =>
  new MeshletError(ControlPlaneErrorCodes.CSR_IDENTITY_FORBIDDEN, `certificate signing request refused: ${message}`);

/**
 * Checks a PKCS#10 request (PEM) against what its sender is allowed, and
 * returns what the leaf may certify. Refused with `MESHLET_CSR_INVALID`: not
 * one PEM request, a signature that does not verify with the request's own
 * key (the sender does not hold it), a key other than ECDSA P-256, any SAN but
 * one SPIFFE URI, a subject CN that is not an instance id. Refused with
 * `MESHLET_CSR_IDENTITY_FORBIDDEN`: a SPIFFE ID of another trust domain or
 * service, or another instance, than `allowed`.
 */
export async function checkCertificateRequest(pem: string, allowed: AllowedIdentity): Promise<CheckedRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    const blocks = x509.PemConverter.decodeWithHeaders(pem);
    if (blocks.length !== 1 || blocks[0]?.type !== 'CERTIFICATE REQUEST') {
      throw new Error('expected exactly one "-----BEGIN CERTIFICATE REQUEST-----" block');
    }
    csr = new x509.Pkcs10CertificateRequest(blocks[0].rawData);
  } catch (e) {
    throw invalid(`it is not a PEM PKCS#10 request (${(e as Error).message})`);
  }
  const algorithm = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw invalid(
      `its key is ${algorithm.name ?? 'unknown'} ${algorithm.namedCurve ?? ''}; meshlet certifies ECDSA P-256 keys`,
    );
  }
  const signed = await csr.verify().catch(() => false);
  if (!signed) throw invalid('its signature does not verify with the key it carries');

  const spiffeUri = requestedUri(csr);
  let spiffeId: SpiffeId;
  try {
    spiffeId = parseSpiffeId(spiffeUri, 'its URI SAN');
  } catch (e) {
    throw invalid((e as Error).message);
  }
  const allowedUri = formatSpiffeId({ trustDomain: allowed.trustDomain, service: allowed.service });
  if (spiffeUri !== allowedUri) {
    throw forbidden(
      `it asks for ${spiffeUri}, but its sender is allowed only ${allowedUri} (its credential is for the service ` +
        `${JSON.stringify(allowed.service)}); an agent can get a certificate for its own service only`,
    );
  }

  const names = csr.subjectName.getField('CN');
  const [commonName] = names;
  const instanceId =
    names.length === 1 && commonName !== undefined ? instanceFromCommonName(commonName, spiffeUri) : undefined;
  if (instanceId === undefined || instanceId.length > ID_MAX || !ID_PATTERN.test(instanceId)) {
    throw invalid(
      `its subject must have one CN, "${instanceCommonName(spiffeUri, '<instance id>')}" ` +
        `(the instance id: ${Id.fix as string}); it is "${csr.subject}"`,
    );
  }
  if (instanceId !== allowed.instanceId) {
    throw forbidden(`it names the instance "${instanceId}", but its sender was admitted as "${allowed.instanceId}"`);
  }
  return { publicKey: csr.publicKey, spiffeId, spiffeUri, instanceId };
}

/** The request's one SAN, a URI; anything else asked for is refused rather than silently dropped. */
function requestedUri(csr: x509.Pkcs10CertificateRequest): string {
  let names: readonly x509.GeneralName[];
  try {
    const sans = csr.extensions.filter((e) => e.type === '2.5.29.17');
    if (sans.length !== 1) throw new Error(`${sans.length} subject alternative name extensions`);
    names = new x509.SubjectAlternativeNameExtension((sans[0] as x509.Extension).rawData).names.items;
  } catch (e) {
    throw invalid(`it must carry one SAN extension with one URI, the SPIFFE ID (${(e as Error).message})`);
  }
  const [first] = names;
  if (names.length !== 1 || first === undefined || first.type !== 'url') {
    const asked = names.map((n) => `${n.type}:${n.value}`).join(', ');
    throw invalid(`it asks for the names [${asked}]; meshlet certifies exactly one URI SAN, the SPIFFE ID`);
  }
  return first.value;
}
