import { createSecureContext } from 'node:tls';
import {
  ConfigError,
  type ControlPlaneConfig,
  MeshletError,
  readSettingFile,
  SharedErrorCodes,
  type ValidationIssue,
} from '@meshlet/shared';

/** The `tls` section of the control-plane config. */
export type TlsConfig = ControlPlaneConfig['tls'];
/** The files of the `tls` section: what serving TLS needs. */
export type TlsFiles = Pick<TlsConfig, 'certFile' | 'keyFile' | 'caFile'>;

/** What `Fastify({ https })` needs to serve TLS. */
export interface HttpsOptions {
  key: Buffer;
  /** The certificate, followed by `tls.caFile`'s intermediates when set. */
  cert: Buffer;
  /** Always true: every client is asked for a certificate (an agent's workload certificate authenticates its stream). */
  requestCert: true;
  /**
   * Always false: a client without a certificate, or with one Node cannot
   * verify, still connects (bootstrap with a join credential, the admin API,
   * curl); the stream checks a presented certificate against the mesh CA
   * itself (`StreamCertificateAuth`), whose roots change during a rotation.
   */
  rejectUnauthorized: false;
}

/** Checks what the schema cannot: a certificate and its key go together. */
export function checkTls(tls: TlsFiles): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (tls.certFile !== undefined && tls.keyFile === undefined) {
    issues.push({
      path: 'tls.keyFile',
      problem: 'is required with tls.certFile',
      fix: 'give the PEM private key of the certificate, or unset tls.certFile to serve plain HTTP',
    });
  }
  if (tls.keyFile !== undefined && tls.certFile === undefined) {
    issues.push({
      path: 'tls.certFile',
      problem: 'is required with tls.keyFile',
      fix: 'give the PEM certificate of the key, or unset tls.keyFile to serve plain HTTP',
    });
  }
  if (tls.caFile !== undefined && tls.certFile === undefined && tls.keyFile === undefined) {
    issues.push({
      path: 'tls.caFile',
      problem: 'needs tls.certFile and tls.keyFile',
      fix: 'set them too, or unset tls.caFile',
    });
  }
  return issues;
}

/**
 * Reads the server's certificate and key for `Fastify({ https })`, or
 * resolves undefined when TLS is off. The pair is tried once here, so a key
 * that does not match its certificate, or a file that is not PEM, fails the
 * start with the settings named rather than with OpenSSL's words alone.
 */
export async function httpsOptions(tls: TlsFiles): Promise<HttpsOptions | undefined> {
  const issues = checkTls(tls);
  if (issues.length > 0) throw new ConfigError('the tls settings', issues);
  if (tls.certFile === undefined || tls.keyFile === undefined) return undefined;
  const cert = readSettingFile('tls.certFile', tls.certFile);
  const key = readSettingFile('tls.keyFile', tls.keyFile);
  const ca = tls.caFile === undefined ? undefined : readSettingFile('tls.caFile', tls.caFile);
  // Node sends the certificates of `cert` in order: the server's, then the intermediates.
  const chain = ca === undefined ? cert : Buffer.concat([cert, Buffer.from('\n'), ca]);
  try {
    createSecureContext({ key, cert: chain });
  } catch (e) {
    throw new MeshletError(
      SharedErrorCodes.CONFIG_INVALID,
      `tls.certFile ${tls.certFile} and tls.keyFile ${tls.keyFile} cannot be used together: ${(e as Error).message}. ` +
        'Fix: give a PEM certificate and its own unencrypted PEM private key',
      { cause: e },
    );
  }
  return { key, cert: chain, requestCert: true, rejectUnauthorized: false };
}
