import type { Certificate, Clock } from '@meshlet/shared';
import { PeerIdentityVerifier, x509 } from '@meshlet/shared/identity';
import type { WorkloadKey } from './workload-key.js';

/** The identity the control plane certifies for this agent, as its `identity` message said. */
export interface Expected {
  spiffeId: string;
  trustDomain: string;
  service: string;
  instanceId: string;
  /** The roots the control plane certifies under now, when it said (normalized by {@link rootsOf}). */
  roots: string | undefined;
  /** The join credential the control plane certifies under now, when it said. */
  credentialId?: string | undefined;
}

/** The certificates of a PEM bundle, trimmed and sorted: two bundles of the same roots compare equal. */
export function rootsOf(bundlePem: string): string {
  const blocks = bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks
    .map((b) => b.replace(/\s+/g, ''))
    .sort()
    .join('|');
}

/** Whether two PEM bundles have a root in common. */
export function sharesRoot(aPem: string, bPem: string): boolean {
  const a = rootsOf(aPem).split('|');
  return rootsOf(bPem)
    .split('|')
    .some((root) => a.includes(root));
}

/** Logged at error when a new bundle shares no root with the one held. */
export const TRUST_BREAK =
  'TRUST BREAK: the new trust bundle shares no root with the one this agent held; peers certified by the old CA ' +
  'are refused from now on. Expected after the control plane got a new CA (memory, regenerated); otherwise ' +
  'someone on the stream is handing out roots: check the control plane and use wss://';

/** Why `message` cannot be installed, or the leaf's expiry when it certifies `key` as `expected`. */
export async function checkIssuedCertificate(
  message: Certificate,
  key: WorkloadKey,
  expected: Expected,
  clock: Clock,
): Promise<string | { notAfterMs: number }> {
  let chain: x509.X509Certificate[];
  try {
    chain = x509.PemConverter.decode(message.certChainPem).map((der) => new x509.X509Certificate(der));
  } catch (e) {
    return `its chain cannot be parsed (${(e as Error).message})`;
  }
  const [leaf, ...issuers] = chain;
  if (leaf === undefined) return 'its chain holds no certificate';
  const own = await x509.PublicKey.create(key.publicKey);
  if (!Buffer.from(leaf.publicKey.rawData).equals(Buffer.from(own.rawData))) {
    return 'it certifies another key than the one this agent asked for';
  }
  let verifier: PeerIdentityVerifier;
  try {
    verifier = new PeerIdentityVerifier({
      trustBundle: [message.trustBundlePem],
      trustDomain: expected.trustDomain,
      knownIntermediates: issuers.map((c) => c.toString('pem')),
      // Its own new certificate is checked for expiry, not for having started: an agent whose clock is behind
      // the control plane's (past the leaf's backdating) would refuse every certificate as not yet valid.
      // Peers, whose clocks may differ too, check the dates themselves.
      clock: () => Math.max(clock(), leaf.notBefore.getTime()),
    });
  } catch (e) {
    return (e as Error).message;
  }
  const verified = await verifier.verify(
    chain.map((c) => new Uint8Array(c.rawData)),
    expected.service,
  );
  if (!verified.ok) return verified.message;
  if (leaf.notAfter.getTime() <= clock()) return `it expired at ${leaf.notAfter.toISOString()}`;
  if (verified.uri !== expected.spiffeId || verified.instanceId !== expected.instanceId) {
    return `it certifies ${verified.uri} instance ${verified.instanceId ?? '(none)'}, not ${expected.spiffeId} instance ${expected.instanceId}`;
  }
  // The leaf's own date (whole seconds), not the message's: the leaf is what peers check.
  return { notAfterMs: leaf.notAfter.getTime() };
}
