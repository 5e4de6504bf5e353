import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Logger, writeJsonFile } from '@meshlet/shared';
import type { WorkloadCertificate } from './workload-identity.js';

/** The agent's workload certificate, chain, trust bundle and private key, in its data directory (0600). */
export const IDENTITY_FILE = 'workload-identity.json';

/** What is kept: the certificate as installed, and when it was due for renewal. */
export interface PersistedIdentity {
  certificate: WorkloadCertificate;
  renewAtMs: number;
}

const FIELDS = [
  'spiffeId',
  'trustDomain',
  'service',
  'instanceId',
  'keyPem',
  'certChainPem',
  'trustBundlePem',
] as const;

/**
 * Reads the identity a previous run kept in `dataDir`, if it is there, whole,
 * unexpired at `nowMs`, and its key is the leaf's: an agent restarted while
 * the control plane is away still calls and serves its mTLS peers (static
 * stability) until the certificate expires. Synchronous, so the identity is
 * there before any listener starts. Anything else is logged and ignored (the
 * agent then asks the control plane, as on a first start).
 */
export function loadPersistedIdentity(dataDir: string, nowMs: number, log: Logger): PersistedIdentity | undefined {
  const path = join(dataDir, IDENTITY_FILE);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn({ path, err: (e as Error).message }, 'ignored the persisted workload identity: unreadable');
    return undefined;
  }
  const kept = value as Partial<PersistedIdentity> | null;
  const c = kept?.certificate as Partial<WorkloadCertificate> | undefined;
  if (c === undefined || FIELDS.some((f) => typeof c[f] !== 'string') || typeof kept?.renewAtMs !== 'number') {
    log.warn({ path }, 'ignored the persisted workload identity: not a whole one');
    return undefined;
  }
  const certificate = c as WorkloadCertificate;
  let notAfterMs: number;
  try {
    const leaf = new X509Certificate(certificate.certChainPem);
    if (!leaf.checkPrivateKey(createPrivateKey(certificate.keyPem))) throw new Error('the key is not the leaf key');
    notAfterMs = Date.parse(leaf.validTo);
  } catch (e) {
    log.warn({ path, err: (e as Error).message }, 'ignored the persisted workload identity: unusable');
    return undefined;
  }
  if (!(notAfterMs > nowMs)) {
    log.info({ path, notAfter: new Date(notAfterMs).toISOString() }, 'the persisted workload certificate expired');
    return undefined;
  }
  return { certificate: { ...certificate, notAfterMs }, renewAtMs: kept.renewAtMs };
}

/** Keeps `kept` in `dataDir`: one JSON file, 0600, written atomically (a temp file renamed over it). */
export async function persistIdentity(dataDir: string, kept: PersistedIdentity): Promise<void> {
  await writeJsonFile(join(dataDir, IDENTITY_FILE), kept);
}
