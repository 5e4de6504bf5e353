import { webcrypto } from 'node:crypto';
import {
  credentialUnit,
  type CryptoKey,
  type CryptoKeyPair,
  ECDSA_SHA256,
  instanceCommonName,
  x509,
} from '@meshlet/shared/identity';

/** Lifetimes of the CA's own certificates when it makes them: a root outlives many issuers, an issuer many leaves. */
export const CA_CERTIFICATE_LIFETIMES = {
  /** The trust anchor: 10 years, as Linkerd's documented `step` invocation makes it. */
  rootMs: 10 * 365 * 24 * 3600_000,
  /** The issuer: 1 year, as Linkerd's issuer; rotating it needs no change of trust bundle. */
  issuerMs: 365 * 24 * 3600_000,
} as const;

/**
 * How far every certificate's `notBefore` is set back from the moment it is
 * signed, so that a peer whose clock runs up to a minute behind accepts it at
 * once (a leaf is checked with its whole chain, so the CA's own certificates
 * are dated back too).
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 60_000;

/**
 * A random positive serial number of 128 bits, as hex. From the system's
 * cryptographic source, not the seeded `Random` tests pass in: serial numbers
 * must be unpredictable (the CA/Browser Forum asks 64 bits of entropy, against
 * chosen-prefix collisions) and no test needs to pin one down.
 */
export function randomSerialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // First byte in 1..127: positive, and no leading zero byte, so the DER INTEGER is minimal.
  bytes[0] = ((bytes[0] as number) % 0x7f) + 1;
  return Buffer.from(bytes).toString('hex');
}

/** The names of the CA's certificates: the trust domain, and the time each was made so that two roots of a rotation differ. */
function caName(kind: 'root' | 'issuer', trustDomain: string, at: Date): x509.JsonName {
  return [{ O: ['meshlet'] }, { OU: [trustDomain] }, { CN: [`meshlet ${kind} CA ${at.toISOString()}`] }];
}

/** A self-signed root (trust anchor) for `trustDomain`, able to sign issuers but not leaves directly (path length 1). */
export async function createRootCertificate(
  keys: CryptoKeyPair,
  trustDomain: string,
  now: Date,
  lifetimeMs: number = CA_CERTIFICATE_LIFETIMES.rootMs,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: caName('root', trustDomain, now),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS),
    notAfter: new Date(now.getTime() + lifetimeMs),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
}

/**
 * An issuer (intermediate CA) signed by `root`, able to sign leaves only
 * (path length 0). Its validity never reaches past the root's.
 */
export async function createIssuerCertificate(
  issuerPublicKey: CryptoKey,
  root: x509.X509Certificate,
  rootKey: CryptoKey,
  trustDomain: string,
  now: Date,
  lifetimeMs: number = CA_CERTIFICATE_LIFETIMES.issuerMs,
): Promise<x509.X509Certificate> {
  const notAfter = Math.min(now.getTime() + lifetimeMs, root.notAfter.getTime());
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: caName('issuer', trustDomain, now),
    issuer: root.subjectName,
    notBefore: new Date(Math.max(now.getTime() - CLOCK_SKEW_ALLOWANCE_MS, root.notBefore.getTime())),
    notAfter: new Date(notAfter),
    publicKey: issuerPublicKey,
    signingKey: rootKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(issuerPublicKey),
      await authorityKeyIdentifier(root),
    ],
  });
}

/** What a leaf certifies, once the request has been checked. */
export interface LeafContents {
  /** The workload's public key, from its request. */
  publicKey: x509.PublicKey;
  /** The SPIFFE ID URI, the leaf's one URI SAN. */
  spiffeUri: string;
  /** The instance, in the leaf's subject CN (`instanceCommonName`). */
  instanceId: string;
  notBefore: Date;
  notAfter: Date;
  /** The join credential the agent joined with, named in an OU: revoking it cuts the certificate off the stream. */
  credentialId?: string | undefined;
}

/**
 * A workload certificate (X.509-SVID) signed by the issuer: not a CA, key
 * usage digitalSignature (all an ECDSA key does in TLS 1.2 ECDHE and 1.3),
 * extended key usage for both TLS server and client, since every agent is
 * both a callee and a caller.
 */
export async function createLeafCertificate(
  leaf: LeafContents,
  issuer: x509.X509Certificate,
  issuerKey: CryptoKey,
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [
      { CN: [instanceCommonName(leaf.spiffeUri, leaf.instanceId)] },
      ...(leaf.credentialId === undefined ? [] : [{ OU: [credentialUnit(leaf.credentialId)] }]),
    ],
    issuer: issuer.subjectName,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    publicKey: leaf.publicKey,
    signingKey: issuerKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: leaf.spiffeUri }]),
      await x509.SubjectKeyIdentifierExtension.create(leaf.publicKey),
      await authorityKeyIdentifier(issuer),
    ],
  });
}

/**
 * The authority key identifier of a certificate signed by `signer`: a copy of
 * the signer's own subject key identifier when it has one. It is not
 * recomputed from the key: an operator's issuer may identify its key
 * otherwise (truncated SHA-256, RFC 7093, as Go 1.25 and `step` make it), and
 * OpenSSL will not build a chain whose identifiers differ.
 */
async function authorityKeyIdentifier(signer: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = signer.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : x509.AuthorityKeyIdentifierExtension.create(signer.publicKey);
}
