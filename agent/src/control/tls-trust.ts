import { X509Certificate } from 'node:crypto';
import { MeshletError, readSettingFile, SharedErrorCodes } from '@meshlet/shared';

/**
 * Reads `controlPlane.caFile`: the PEM CA certificate(s) a `wss://` control
 * plane's certificate must chain to. Throws naming the setting and the file
 * when it cannot be read or holds no certificate.
 */
export async function readCaFile(file: string): Promise<Buffer> {
  const pem = readSettingFile('controlPlane.caFile', file, 'the agent');
  try {
    new X509Certificate(pem);
  } catch (e) {
    throw new MeshletError(
      SharedErrorCodes.CONFIG_INVALID,
      `controlPlane.caFile ${file} is not a PEM certificate: ${(e as Error).message}. Fix: give the CA certificate ("-----BEGIN CERTIFICATE-----") that signed the control plane's certificate`,
      { cause: e },
    );
  }
  return pem;
}

/** OpenSSL's verification failures (Node's `err.code`): the control plane's certificate is not trusted. */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
]);

/**
 * What the operator should know about a failure to set up TLS with the
 * control plane, or undefined when `err` is not about TLS. These failures
 * repeat identically on every reconnect until someone changes a setting, so
 * the client logs them as errors, not as the usual reconnect warnings.
 */
export function describeTlsFailure(err: Error & { code?: string }, hasCa: boolean): string | undefined {
  const code = err.code ?? '';
  const why = `${code ? `${code}: ` : ''}${err.message}`;
  if (UNTRUSTED.has(code)) {
    return hasCa
      ? `cannot verify the control plane's TLS certificate (${why}): it is not signed by the CA in controlPlane.caFile; give the CA that signed it`
      : `cannot verify the control plane's TLS certificate (${why}): it is not signed by a CA of the default trust store; set controlPlane.caFile to the CA that signed it`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return `the control plane's TLS certificate does not name the host of controlPlane.url (${why}); use the name or IP address it was issued for`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `the control plane's TLS certificate is not valid now (${why}); renew it (or check this host's clock)`;
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_')) {
    return `TLS with the control plane failed (${why}); if it does not serve TLS, use a ws:// controlPlane.url, or set tls.certFile and tls.keyFile on it`;
  }
  return undefined;
}
