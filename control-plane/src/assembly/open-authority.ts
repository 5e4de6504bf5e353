import { type Clock, type ControlPlaneConfig, type Logger, MeshletError } from '@meshlet/shared';
import { CertificateAuthority } from '../identity/certificate-authority.js';
import { caSourceOf, certificateTtlMs } from '../identity/identity-settings.js';

/**
 * Opens the CA that signs the agents' workload certificates, from
 * `identity.*`. A CA kept in memory is said at warn: certificates it issued
 * are not trusted after a restart, nor by agents of other replicas.
 */
export async function openAuthority(
  config: Pick<ControlPlaneConfig, 'identity' | 'dataDir' | 'store'>,
  log: Logger,
  clock: Clock,
  superseded = false,
): Promise<CertificateAuthority> {
  const source = caSourceOf(config);
  let authority: CertificateAuthority;
  try {
    authority = await CertificateAuthority.open({
      source,
      clock,
      trustDomain: config.identity.trustDomain,
      leafLifetimeMs: certificateTtlMs(config.identity),
      superseded,
    });
  } catch (e) {
    // The CA names the file; the operator also needs the setting that pointed there.
    if (e instanceof MeshletError)
      throw new MeshletError(e.code, `identity.ca (source ${source.kind}): ${e.message}`, { cause: e });
    throw e;
  }
  const where = source.kind === 'generated' ? source.dir : source.kind === 'files' ? source.issuerCertFile : 'memory';
  if (source.kind === 'generated' && config.store.kind === 'etcd') {
    log.warn(
      { dir: source.dir },
      "identity.ca.source is generated with store.kind etcd: this replica's CA lives in its own data directory, " +
        "so agents certified by another replica refuse this one's; give every replica the same identity.ca files " +
        '(identity.ca.source: files)',
    );
  }
  if (source.kind === 'memory') {
    log.warn(
      { trustDomain: authority.trustDomain },
      'the certificate authority lives in memory: certificates it issues are not trusted after a restart nor by ' +
        "other replicas' agents; give every replica the same identity.ca files (identity.ca.source: files)",
    );
  }
  log.info(
    {
      trustDomain: authority.trustDomain,
      ca: source.kind,
      where,
      certificateTtl: config.identity.certificateTtl,
      issuerNotAfter: authority.issuerNotAfter.toISOString(),
    },
    'certificate authority ready',
  );
  return authority;
}
