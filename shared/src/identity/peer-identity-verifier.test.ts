import { describe, expect, it } from 'vitest';
import { SharedErrorCodes } from '../errors.js';
import { type CryptoKeyPair, ECDSA_SHA256, generateEcdsaKeyPair } from './ecdsa-key.js';
import { PeerIdentityVerifier, peerChainDer, peerIdentityError } from './peer-identity-verifier.js';
import { spiffeServerCheck } from './spiffe-server-check.js';
import { x509 } from './x509.js';

// Certificates made here with the library directly, to give the verifier
// what a well-behaved CA never issues (the CA's own tests are in
// control-plane/src/identity, the TLS handshakes in test/identity-mtls).

const T0 = Date.parse('2026-12-04T12:00:00Z');
const DAY = 24 * 3600_000;
let serial = 0;

interface Made {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

async function make(
  options: {
    issuer?: Made;
    ca?: boolean;
    names?: x509.JsonGeneralNames;
    cn?: string;
    from?: number;
    to?: number;
  } = {},
): Promise<Made> {
  const keys = await generateEcdsaKeyPair();
  const name = [{ CN: [options.cn ?? (options.ca ? `test CA ${(serial += 1)}` : 'orders-1')] }];
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true)];
  if (options.names !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(options.names));
  const cert = await x509.X509CertificateGenerator.create({
    subject: name,
    issuer: options.issuer?.cert.subjectName ?? name,
    notBefore: new Date(options.from ?? T0 - DAY),
    notAfter: new Date(options.to ?? T0 + DAY),
    publicKey: keys.publicKey,
    signingKey: (options.issuer?.keys ?? keys).privateKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions,
  });
  return { cert, keys };
}

const der = (...made: Made[]): Uint8Array[] => made.map((m) => new Uint8Array(m.cert.rawData));
const uri = (value: string): x509.JsonGeneralNames => [{ type: 'url', value }];
const ORDERS = uri('spiffe://meshlet.local/svc/orders');

async function mesh() {
  const root = await make({ ca: true });
  const issuer = await make({ ca: true, issuer: root });
  const verifier = new PeerIdentityVerifier({
    trustBundle: [root.cert.toString('pem')],
    trustDomain: 'meshlet.local',
    clock: () => T0,
  });
  return { root, issuer, verifier };
}

describe('PeerIdentityVerifier', () => {
  it('reads the SPIFFE ID and the instance of a leaf chained through the issuer to a trusted root', async () => {
    const { root, issuer, verifier } = await mesh();
    const leaf = await make({ issuer, names: ORDERS, cn: 'spiffe://meshlet.local/svc/orders/instance/orders-7' });
    expect(await verifier.verify(der(leaf, issuer, root), 'orders')).toEqual({
      ok: true,
      id: { trustDomain: 'meshlet.local', service: 'orders' },
      uri: 'spiffe://meshlet.local/svc/orders',
      instanceId: 'orders-7',
      notAfter: leaf.cert.notAfter,
    });
    expect(await verifier.verify(der(leaf, issuer))).toMatchObject({ ok: true });
  });

  it('reads no instance from a CN of another form or naming another SPIFFE ID', async () => {
    const { issuer, verifier } = await mesh();
    for (const cn of ['orders-7', 'spiffe://meshlet.local/svc/payments/instance/orders-7']) {
      const leaf = await make({ issuer, names: ORDERS, cn });
      expect(await verifier.verify(der(leaf, issuer), 'orders')).toMatchObject({ ok: true, instanceId: undefined });
    }
  });

  it('refuses a chain that does not lead to the bundle, even when the peer sends its own root', async () => {
    const { issuer, verifier } = await mesh();
    const fakeRoot = await make({ ca: true });
    const fakeIssuer = await make({ ca: true, issuer: fakeRoot });
    const leaf = await make({ issuer: fakeIssuer, names: ORDERS });
    expect(await verifier.verify(der(leaf, fakeIssuer, fakeRoot))).toMatchObject({ ok: false, reason: 'untrusted' });
    // Without the issuer, the leaf cannot be linked to the root either.
    const real = await make({ issuer, names: ORDERS });
    expect(await verifier.verify(der(real))).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('refuses a chain through a certificate that is not a CA', async () => {
    const { issuer, verifier } = await mesh();
    const notCa = await make({ issuer, names: uri('spiffe://meshlet.local/svc/hello') });
    const leaf = await make({ issuer: notCa, names: ORDERS });
    expect(await verifier.verify(der(leaf, notCa, issuer))).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('refuses a CA certificate presented as a workload', async () => {
    const { issuer, root, verifier } = await mesh();
    expect(await verifier.verify(der(issuer, root))).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('refuses an expired or not yet valid leaf, or one whose issuer expired', async () => {
    const { root, issuer, verifier } = await mesh();
    const expired = await make({ issuer, names: ORDERS, to: T0 - 1 });
    expect(await verifier.verify(der(expired, issuer))).toMatchObject({ ok: false, reason: 'expired' });
    const early = await make({ issuer, names: ORDERS, from: T0 + 1000 });
    expect(await verifier.verify(der(early, issuer))).toMatchObject({ ok: false, reason: 'not-yet-valid' });
    const oldIssuer = await make({ ca: true, issuer: root, to: T0 - 1 });
    const leaf = await make({ issuer: oldIssuer, names: ORDERS });
    expect(await verifier.verify(der(leaf, oldIssuer))).toMatchObject({
      ok: false,
      reason: 'expired',
      message: expect.stringContaining('its issuer'),
    });
  });

  it('remembers a verified chain, but never past the validity of its certificates, nor for another expected service', async () => {
    const root = await make({ ca: true });
    const issuer = await make({ ca: true, issuer: root, to: T0 + 2 * DAY });
    let now = T0;
    const verifier = new PeerIdentityVerifier({
      trustBundle: [root.cert.toString('pem')],
      trustDomain: 'meshlet.local',
      clock: () => now,
    });
    const leaf = await make({ issuer, names: ORDERS, to: T0 + 1000 });
    const first = await verifier.verify(der(leaf, issuer));
    expect(first).toMatchObject({ ok: true, uri: 'spiffe://meshlet.local/svc/orders' });
    // The same bytes again: the remembered verdict, not a new check.
    expect(await verifier.verify(der(leaf, issuer))).toBe(first);
    // Another expected service is another question.
    expect(await verifier.verify(der(leaf, issuer), 'payments')).toMatchObject({ ok: false, reason: 'wrong-service' });
    // Past the leaf's expiry the remembered verdict no longer holds.
    now = T0 + 1001;
    expect(await verifier.verify(der(leaf, issuer))).toMatchObject({ ok: false, reason: 'expired' });
  });

  it.each([
    ['no URI SAN', [{ type: 'dns' as const, value: 'orders.example.com' }]],
    ['two URI SANs', [...ORDERS, ...uri('spiffe://meshlet.local/svc/admin')]],
    ['a URI that is not a meshlet SPIFFE ID', uri('spiffe://meshlet.local/ns/default/sa/orders')],
  ])('refuses a leaf with %s as not-spiffe', async (_what, names) => {
    const { issuer, verifier } = await mesh();
    const leaf = await make({ issuer, names });
    expect(await verifier.verify(der(leaf, issuer))).toMatchObject({ ok: false, reason: 'not-spiffe' });
  });

  it('refuses another trust domain, and another service than the one expected', async () => {
    const { issuer, verifier } = await mesh();
    const foreign = await make({ issuer, names: uri('spiffe://evil.example/svc/orders') });
    expect(await verifier.verify(der(foreign, issuer))).toMatchObject({ ok: false, reason: 'wrong-trust-domain' });
    const orders = await make({ issuer, names: ORDERS });
    const refused = await verifier.verify(der(orders, issuer), 'payments');
    expect(refused).toMatchObject({ ok: false, reason: 'wrong-service' });
    if (refused.ok) throw new Error('accepted');
    expect(peerIdentityError(refused)).toMatchObject({
      code: SharedErrorCodes.PEER_IDENTITY_REFUSED,
      message:
        'peer refused (wrong-service): the peer is spiffe://meshlet.local/svc/orders, not the service "payments"',
    });
  });

  it('refuses no certificate and bytes that are not one', async () => {
    const { verifier } = await mesh();
    expect(await verifier.verify(undefined)).toMatchObject({ ok: false, reason: 'no-certificate' });
    expect(await verifier.verify({} as never)).toMatchObject({ ok: false, reason: 'no-certificate' });
    expect(await verifier.verify([new Uint8Array([1, 2, 3])])).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('follows node:tls issuerCertificate links and stops at a self-signed root', async () => {
    const { root, issuer } = await mesh();
    const leaf = await make({ issuer, names: ORDERS });
    const node = (m: Made, fingerprint256: string) => ({ raw: Buffer.from(m.cert.rawData), fingerprint256 });
    const rootNode = node(root, 'r') as Record<string, unknown>;
    rootNode.issuerCertificate = rootNode;
    const chain = { ...node(leaf, 'l'), issuerCertificate: { ...node(issuer, 'i'), issuerCertificate: rootNode } };
    expect(peerChainDer(chain as never)).toHaveLength(3);
  });

  it('refuses an empty or unreadable trust bundle', () => {
    const options = { trustDomain: 'meshlet.local', clock: () => T0 };
    expect(() => new PeerIdentityVerifier({ ...options, trustBundle: [] })).toThrow(/the trust bundle is empty/);
    expect(() => new PeerIdentityVerifier({ ...options, trustBundle: ['nonsense'] })).toThrow(/trust bundle is empty/);
  });
});

describe('spiffeServerCheck', () => {
  it('passes the callee meant, refuses another service, and a certificate without a SPIFFE ID', async () => {
    const { issuer } = await mesh();
    const check = spiffeServerCheck('meshlet.local', 'orders');
    const peer = async (names: x509.JsonGeneralNames) =>
      ({ raw: Buffer.from((await make({ issuer, names })).cert.rawData) }) as never;
    expect(check('127.0.0.1', await peer(ORDERS))).toBeUndefined();
    expect(check('127.0.0.1', await peer(uri('spiffe://meshlet.local/svc/hello')))).toMatchObject({
      code: SharedErrorCodes.PEER_IDENTITY_REFUSED,
    });
    expect(check('127.0.0.1', await peer([{ type: 'dns', value: 'orders' }]))).toMatchObject({
      message: expect.stringContaining('the callee is no SPIFFE ID'),
    });
  });
});
