import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { x509 } from '@meshlet/shared/identity';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlaneErrorCodes } from '../errors.js';
import { CA_FILE_NAMES } from './ca-files.js';
import { CLOCK_SKEW_ALLOWANCE_MS } from './ca-certificates.js';
import { CertificateAuthority, DEFAULT_LEAF_LIFETIME_MS } from './certificate-authority.js';
import { makeRequest, opensslVerify } from './test-support/requests.js';

const T0 = Date.parse('2026-12-04T12:00:00Z');
const HOUR = 3600_000;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-ca-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openGenerated = (clock = (): number => T0, leafLifetimeMs?: number): Promise<CertificateAuthority> =>
  CertificateAuthority.open({ source: { kind: 'generated', dir: join(dir, 'ca') }, clock, leafLifetimeMs });

describe('CertificateAuthority, generated in the data directory', () => {
  it('signs a request into a leaf that openssl verifies against the root, through the issuer', async () => {
    const ca = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'ca') },
      clock: Date.now,
    });
    const issued = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    const verified = await opensslVerify(dir, {
      roots: ca.trustBundle(),
      chain: issued.chainPem,
      leaf: issued.certificatePem,
    });
    expect(verified.output).toContain('verify-leaf.pem: OK');
    expect(verified.ok).toBe(true);
    // And for both TLS purposes: an agent is a server to its callers and a client to its callees.
    for (const purpose of ['sslserver', 'sslclient']) {
      const forPurpose = await opensslVerify(
        dir,
        { roots: ca.trustBundle(), chain: issued.chainPem, leaf: issued.certificatePem },
        ['-purpose', purpose],
      );
      expect(forPurpose.ok, forPurpose.output).toBe(true);
    }
  });

  it('certifies instance ids up to their 128 characters, past the 64 RFC 5280 suggests for a CN', async () => {
    const ca = await openGenerated(Date.now);
    const id = `orders-${'x'.repeat(121)}`;
    const issued = await ca.sign((await makeRequest({ instanceId: id })).pem, { service: 'orders', instanceId: id });
    expect(new x509.X509Certificate(issued.certificatePem).subject).toBe(
      `CN=spiffe://meshlet.local/svc/orders/instance/${id}`,
    );
    const verified = await opensslVerify(dir, {
      roots: ca.trustBundle(),
      chain: issued.chainPem,
      leaf: issued.certificatePem,
    });
    expect(verified.ok, verified.output).toBe(true);
  });

  it('a leaf is refused by openssl without the issuer, and under another CA root', async () => {
    const ca = await openGenerated(Date.now);
    const other = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'other') },
      clock: Date.now,
    });
    const issued = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    const noIssuer = await opensslVerify(dir, { roots: ca.trustBundle(), chain: [], leaf: issued.certificatePem });
    expect(noIssuer.ok).toBe(false);
    const otherRoot = await opensslVerify(dir, {
      roots: other.trustBundle(),
      chain: issued.chainPem,
      leaf: issued.certificatePem,
    });
    expect(otherRoot.ok).toBe(false);
  });

  it('writes what the leaf certifies, and nothing the request asked beyond its key', async () => {
    const ca = await openGenerated();
    const request = await makeRequest({ service: 'orders', instanceId: 'orders-7' });
    const issued = await ca.sign(request.pem, { service: 'orders', instanceId: 'orders-7' });
    const leaf = new x509.X509Certificate(issued.certificatePem);
    expect(issued.spiffeId).toBe('spiffe://meshlet.local/svc/orders');
    expect(leaf.subject).toBe('CN=spiffe://meshlet.local/svc/orders/instance/orders-7');
    const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.toJSON()).toEqual([{ type: 'url', value: 'spiffe://meshlet.local/svc/orders' }]);
    expect(leaf.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(leaf.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages).toEqual([
      x509.ExtendedKeyUsage.serverAuth,
      x509.ExtendedKeyUsage.clientAuth,
    ]);
    const requestKey = Buffer.from(await (await x509.PublicKey.create(request.keys.publicKey)).rawData);
    expect(Buffer.from(leaf.publicKey.rawData).equals(requestKey)).toBe(true);
    // 24 h by default, dated a minute back for peers whose clocks lag.
    expect(leaf.notAfter.getTime()).toBe(T0 + DEFAULT_LEAF_LIFETIME_MS);
    expect(leaf.notBefore.getTime()).toBe(T0 - CLOCK_SKEW_ALLOWANCE_MS);
    expect(issued.notAfter).toEqual(leaf.notAfter);
    expect(issued.certificateChainPem).toBe(`${issued.certificatePem}\n${issued.chainPem.join('\n')}\n`);
    expect(ca.trustBundle().some((root) => issued.chainPem.includes(root))).toBe(false);
  });

  it('takes lifetimes down to seconds, the clock passed in, and never outlives the issuer', async () => {
    let now = T0;
    const ca = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'ca') },
      clock: () => now,
      leafLifetimeMs: 5000,
      issuerLifetimeMs: 10 * HOUR,
    });
    now = T0 + HOUR;
    const short = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    expect(short.notAfter.getTime()).toBe(T0 + HOUR + 5000);

    const long = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'ca') },
      clock: () => T0 + 9 * HOUR,
    });
    const capped = await long.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    expect(capped.notAfter).toEqual(long.issuerNotAfter);
    expect(long.issuerNotAfter.getTime()).toBe(T0 + 10 * HOUR);

    await expect(openGenerated(() => T0, 999)).rejects.toMatchObject({ code: ControlPlaneErrorCodes.CA_INVALID });
    now = T0 - HOUR;
    await expect(
      ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' }),
    ).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining("check the control plane's clock"),
    });
  });

  it('keeps its keys 0600 in a 0700 directory', async () => {
    await openGenerated();
    expect((await stat(join(dir, 'ca'))).mode & 0o777).toBe(0o700);
    for (const name of Object.values(CA_FILE_NAMES)) {
      expect({ name, mode: ((await stat(join(dir, 'ca', name))).mode & 0o777).toString(8) }).toEqual({
        name,
        mode: '600',
      });
    }
    expect(await readFile(join(dir, 'ca', CA_FILE_NAMES.issuerKey), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('reloads the same root and issuer on restart, so leaves signed before stay trusted', async () => {
    const first = await openGenerated(Date.now);
    const before = await first.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    const rootFile = await readFile(join(dir, 'ca', CA_FILE_NAMES.roots), 'utf8');

    const restarted = await openGenerated(Date.now);
    expect(restarted.trustBundle()).toEqual(first.trustBundle());
    expect(await readFile(join(dir, 'ca', CA_FILE_NAMES.roots), 'utf8')).toBe(rootFile);
    const after = await restarted.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    expect(after.chainPem).toEqual(before.chainPem);
    const verified = await opensslVerify(dir, {
      roots: restarted.trustBundle(),
      chain: after.chainPem,
      leaf: before.certificatePem,
    });
    expect(verified.ok, verified.output).toBe(true);
  });

  it('makes a new CA where the first start stopped before writing its trust bundle', async () => {
    const first = await openGenerated();
    await rm(join(dir, 'ca', CA_FILE_NAMES.roots));
    const again = await openGenerated();
    expect(again.trustBundle()).not.toEqual(first.trustBundle());
  });

  it('refuses a directory with a trust bundle but no issuer key, naming the file', async () => {
    await openGenerated();
    await rm(join(dir, 'ca', CA_FILE_NAMES.issuerKey));
    await expect(openGenerated()).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining(join(dir, 'ca', CA_FILE_NAMES.issuerKey)),
    });
  });

  it('refuses an issuer that has expired, with what to do', async () => {
    await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'ca') },
      clock: () => T0,
      issuerLifetimeMs: HOUR,
    });
    await expect(openGenerated(() => T0 + 2 * HOUR)).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining('give an issuer valid now'),
    });
  });
});

describe('CertificateAuthority, from operator-supplied files', () => {
  const files = (ca: string) => ({
    kind: 'files' as const,
    trustBundleFile: join(ca, CA_FILE_NAMES.roots),
    issuerCertFile: join(ca, CA_FILE_NAMES.issuer),
    issuerKeyFile: join(ca, CA_FILE_NAMES.issuerKey),
  });

  it('signs with the operator issuer; replicas given the same files trust each other’s leaves', async () => {
    const made = await openGenerated(Date.now);
    const replicaA = await CertificateAuthority.open({ source: files(join(dir, 'ca')), clock: Date.now });
    const replicaB = await CertificateAuthority.open({ source: files(join(dir, 'ca')), clock: Date.now });
    expect(replicaA.trustBundle()).toEqual(made.trustBundle());
    const issued = await replicaA.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    const verified = await opensslVerify(dir, {
      roots: replicaB.trustBundle(),
      chain: issued.chainPem,
      leaf: issued.certificatePem,
    });
    expect(verified.ok, verified.output).toBe(true);
  });

  it('refuses an issuer key that is not the issuer certificate’s', async () => {
    await openGenerated();
    await CertificateAuthority.open({ source: { kind: 'generated', dir: join(dir, 'other') }, clock: () => T0 });
    const mixed = { ...files(join(dir, 'ca')), issuerKeyFile: join(dir, 'other', CA_FILE_NAMES.issuerKey) };
    await expect(CertificateAuthority.open({ source: mixed, clock: () => T0 })).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining('the issuer key is not the key of the issuer certificate'),
    });
  });

  it('refuses an issuer that no root of the bundle signed', async () => {
    await openGenerated();
    await CertificateAuthority.open({ source: { kind: 'generated', dir: join(dir, 'other') }, clock: () => T0 });
    const foreign = { ...files(join(dir, 'ca')), trustBundleFile: join(dir, 'other', CA_FILE_NAMES.roots) };
    await expect(CertificateAuthority.open({ source: foreign, clock: () => T0 })).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining('is not signed by a root of the trust bundle'),
    });
  });

  it('refuses a leaf given as the issuer, and files that are not PEM, naming the file', async () => {
    const ca = await openGenerated();
    const leaf = await ca.sign((await makeRequest()).pem, { service: 'orders', instanceId: 'orders-1' });
    const leafFile = join(dir, 'leaf.pem');
    await writeFile(leafFile, leaf.certificateChainPem);
    const asIssuer = { ...files(join(dir, 'ca')), issuerCertFile: leafFile };
    await expect(CertificateAuthority.open({ source: asIssuer, clock: () => T0 })).rejects.toMatchObject({
      message: expect.stringContaining('is not a CA certificate'),
    });
    const garbage = join(dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    const notPem = { ...files(join(dir, 'ca')), trustBundleFile: garbage };
    await expect(CertificateAuthority.open({ source: notPem, clock: () => T0 })).rejects.toMatchObject({
      code: ControlPlaneErrorCodes.CA_INVALID,
      message: expect.stringContaining(`${garbage} holds no "-----BEGIN CERTIFICATE-----" block`),
    });
    const missing = { ...files(join(dir, 'ca')), issuerKeyFile: join(dir, 'nope.pem') };
    await expect(CertificateAuthority.open({ source: missing, clock: () => T0 })).rejects.toMatchObject({
      message: expect.stringContaining(`cannot read the issuer key ${join(dir, 'nope.pem')}`),
    });
  });
});
