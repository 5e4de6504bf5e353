import { join } from 'node:path';
import { CertificateAuthority } from '@meshlet/control-plane';
import { systemClock } from '@meshlet/shared';

/**
 * `identity` settings that give every control-plane replica the same CA, as
 * an operator would (`identity.ca.source: files`): a CA generated once into
 * `dir`, whose roots, issuer and issuer key (0600) the replicas read. Agents
 * of different replicas then trust each other's certificates, where each
 * replica's own CA in memory would have them refuse each other. (The file
 * names are the generated CA's, `CA_FILE_NAMES` in control-plane/src/identity/ca-files.ts.)
 */
export async function sharedCaSettings(dir: string): Promise<{ identity: Record<string, unknown> }> {
  await CertificateAuthority.open({ source: { kind: 'generated', dir }, clock: systemClock });
  return {
    identity: {
      ca: {
        source: 'files',
        trustBundleFile: join(dir, 'roots.pem'),
        issuerCertFile: join(dir, 'issuer.pem'),
        issuerKeyFile: join(dir, 'issuer-key.pem'),
      },
    },
  };
}
