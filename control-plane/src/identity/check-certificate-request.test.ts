import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateEcdsaKeyPair, x509 } from '@meshlet/shared/identity';
import { describe, expect, it } from 'vitest';
import { ControlPlaneErrorCodes } from '../errors.js';
import { CertificateAuthority } from './certificate-authority.js';
import { checkCertificateRequest } from './check-certificate-request.js';
import { makeRequest } from './test-support/requests.js';

const ORDERS = { trustDomain: 'meshlet.local', service: 'orders', instanceId: 'orders-1' };
const { CSR_INVALID, CSR_IDENTITY_FORBIDDEN } = ControlPlaneErrorCodes;

async function refusal(pem: string, allowed = ORDERS as Parameters<typeof checkCertificateRequest>[1]) {
  try {
    await checkCertificateRequest(pem, allowed);
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('the request was accepted');
}

describe('checkCertificateRequest', () => {
  it('accepts a request for the sender’s own service and returns what the leaf may certify', async () => {
    const { pem } = await makeRequest({ service: 'orders', instanceId: 'orders-1' });
    const checked = await checkCertificateRequest(pem, { ...ORDERS, instanceId: 'orders-1' });
    expect(checked.spiffeUri).toBe('spiffe://meshlet.local/svc/orders');
    expect(checked.spiffeId).toEqual({ trustDomain: 'meshlet.local', service: 'orders' });
    expect(checked.instanceId).toBe('orders-1');
  });

  it('refuses a request for another service than the authenticated one', async () => {
    const { pem } = await makeRequest({ service: 'hello' });
    const e = await refusal(pem);
    expect(e.code).toBe(CSR_IDENTITY_FORBIDDEN);
    expect(e.message).toContain('asks for spiffe://meshlet.local/svc/hello');
    expect(e.message).toContain('allowed only spiffe://meshlet.local/svc/orders');
  });

  it('refuses a request for another trust domain, or another instance than the registered one', async () => {
    const foreign = await refusal((await makeRequest({ trustDomain: 'evil.example' })).pem);
    expect(foreign.code).toBe(CSR_IDENTITY_FORBIDDEN);
    const other = await refusal((await makeRequest({ instanceId: 'orders-2' })).pem, {
      ...ORDERS,
      instanceId: 'orders-1',
    });
    expect(other).toMatchObject({ code: CSR_IDENTITY_FORBIDDEN, message: expect.stringContaining('"orders-2"') });
  });

  it('refuses a request for a public key its sender does not hold (no proof of possession)', async () => {
    const victim = await generateEcdsaKeyPair();
    const attacker = await generateEcdsaKeyPair();
    const { pem } = await makeRequest({ keys: { publicKey: victim.publicKey, privateKey: attacker.privateKey } });
    expect(await refusal(pem)).toMatchObject({
      code: CSR_INVALID,
      message: expect.stringContaining('its signature does not verify with the key it carries'),
    });
  });

  it('refuses a request whose subject was changed after signing', async () => {
    const { pem } = await makeRequest({ instanceId: 'orders-1' });
    const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
    const at = der.indexOf('orders-1') + 'orders-'.length;
    der[at] = '2'.charCodeAt(0);
    const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    expect(new x509.Pkcs10CertificateRequest(tampered).subject).toBe(
      'CN=spiffe://meshlet.local/svc/orders/instance/orders-2',
    );
    expect(await refusal(tampered)).toMatchObject({
      code: CSR_INVALID,
      message: expect.stringContaining('its signature does not verify'),
    });
  });

  it('refuses keys other than ECDSA P-256', async () => {
    const rsa = {
      name: 'RSASSA-PKCS1-v1_5' as const,
      hash: 'SHA-256' as const,
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    };
    const e = await refusal((await makeRequest({ algorithm: rsa })).pem);
    expect(e).toMatchObject({ code: CSR_INVALID, message: expect.stringContaining('certifies ECDSA P-256 keys') });
  });

  it.each([
    ['no SAN', []],
    [
      'a DNS name beside the SPIFFE ID',
      [
        { type: 'url' as const, value: 'spiffe://meshlet.local/svc/orders' },
        { type: 'dns' as const, value: 'orders.example.com' },
      ],
    ],
    [
      'two URIs',
      [
        { type: 'url' as const, value: 'spiffe://meshlet.local/svc/orders' },
        { type: 'url' as const, value: 'spiffe://meshlet.local/svc/admin' },
      ],
    ],
    ['a URI that is not a SPIFFE ID', [{ type: 'url' as const, value: 'https://orders.example.com/' }]],
  ])('refuses a request with %s', async (_what, names) => {
    const e = await refusal((await makeRequest({ names })).pem);
    expect(e.code).toBe(CSR_INVALID);
  });

  it('refuses a subject CN that is not an instance id, and text that is not one PEM request', async () => {
    const badCn = await refusal((await makeRequest({ instanceId: 'orders 1, O=evil' })).pem);
    expect(badCn).toMatchObject({
      code: CSR_INVALID,
      message: expect.stringContaining('one CN, "spiffe://meshlet.local/svc/orders/instance/<instance id>"'),
    });
    expect(await refusal('hello')).toMatchObject({ code: CSR_INVALID, message: expect.stringContaining('not a PEM') });
    const two = (await makeRequest()).pem + (await makeRequest()).pem;
    expect((await refusal(two)).code).toBe(CSR_INVALID);
  });

  // Node's default checkServerIdentity matches the CN of a certificate without DNS SANs: a CN that is a bare
  // instance id such as "orders" would let a caller that forgot spiffeServerCheck accept it for the host "orders".
  it('refuses a CN that could be a host name, and one naming another SPIFFE ID', async () => {
    for (const commonName of [
      'orders-1',
      'orders.meshlet.local',
      'spiffe://meshlet.local/svc/payments/instance/orders-1',
    ]) {
      expect(await refusal((await makeRequest({ commonName })).pem)).toMatchObject({ code: CSR_INVALID });
    }
  });
});

describe('CertificateAuthority.sign', () => {
  it('refuses a request for another service than the authenticated one, with MESHLET_CSR_IDENTITY_FORBIDDEN', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-ca-'));
    try {
      const ca = await CertificateAuthority.open({ source: { kind: 'generated', dir }, clock: Date.now });
      const { pem } = await makeRequest({ service: 'payments', instanceId: 'orders-1' });
      await expect(ca.sign(pem, { service: 'orders', instanceId: 'orders-1' })).rejects.toMatchObject({
        code: CSR_IDENTITY_FORBIDDEN,
        message: expect.stringContaining('an agent can get a certificate for its own service only'),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
