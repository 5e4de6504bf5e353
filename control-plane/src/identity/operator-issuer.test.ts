import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECDSA_SHA256, generateEcdsaKeyPair, privateKeyToPem, x509 } from '@meshlet/shared/identity';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { CertificateAuthority } from './certificate-authority.js';
import { makeRequest, opensslVerify } from './test-support/requests.js';

// An operator's issuer made by another tool, whose key identifiers are not
// the SHA-1 of the key (Go 1.25 and `step` use truncated SHA-256, RFC 7093):
// the leaves must name the issuer's identifier as it is, or OpenSSL finds no
// issuer for them.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-operator-ca-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const DAY = 24 * 3600_000;
/** Key identifiers no SHA-1 of a key gives: fixed bytes, as another tool may choose them. */
const ROOT_KEY_ID = '0a'.repeat(20);
const ISSUER_KEY_ID = '0b'.repeat(20);

async function operatorFiles(): Promise<{ trustBundleFile: string; issuerCertFile: string; issuerKeyFile: string }> {
  const now = Date.now();
  const rootKeys = await generateEcdsaKeyPair();
  const issuerKeys = await generateEcdsaKeyPair();
  const rootName = 'CN=operator root';
  const root = await x509.X509CertificateGenerator.create({
    serialNumber: '01',
    subject: rootName,
    issuer: rootName,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 365 * DAY),
    publicKey: rootKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(ROOT_KEY_ID),
    ],
  });
  const issuer = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=operator issuer',
    issuer: rootName,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 180 * DAY),
    publicKey: issuerKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(ISSUER_KEY_ID),
      new x509.AuthorityKeyIdentifierExtension(ROOT_KEY_ID),
    ],
  });
  const files = {
    trustBundleFile: join(dir, 'roots.pem'),
    issuerCertFile: join(dir, 'issuer.pem'),
    issuerKeyFile: join(dir, 'issuer-key.pem'),
  };
  await writeFile(files.trustBundleFile, root.toString('pem'));
  await writeFile(files.issuerCertFile, issuer.toString('pem'));
  await writeFile(files.issuerKeyFile, await privateKeyToPem(issuerKeys.privateKey), { mode: 0o600 });
  return files;
}

it('signs leaves that name an operator issuer by its own key identifier, which openssl chains', async () => {
  const ca = await CertificateAuthority.open({
    source: { kind: 'files', ...(await operatorFiles()) },
    clock: Date.now,
  });
  const issued = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
  const leaf = new x509.X509Certificate(issued.certificatePem);
  expect(leaf.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(ISSUER_KEY_ID);
  const verified = await opensslVerify(dir, {
    roots: ca.trustBundle(),
    chain: issued.chainPem,
    leaf: issued.certificatePem,
  });
  expect(verified.ok, verified.output).toBe(true);
});

it('an issuer key that group or others may read is refused, naming the file and chmod 600', async () => {
  const files = await operatorFiles();
  await chmod(files.issuerKeyFile, 0o644);
  await expect(CertificateAuthority.open({ source: { kind: 'files', ...files }, clock: Date.now })).rejects.toThrow(
    `${files.issuerKeyFile} may be read by group or others (mode 0644); the issuer key signs every workload identity: chmod 600 ${files.issuerKeyFile}`,
  );
});
