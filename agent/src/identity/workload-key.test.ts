import { createPrivateKey, createPublicKey } from 'node:crypto';
import { x509 } from '@meshlet/shared/identity';
import { describe, expect, it } from 'vitest';
import { WorkloadKey } from './workload-key.js';

const ORDERS = { spiffeId: { trustDomain: 'meshlet.local', service: 'orders' }, instanceId: 'orders-1' };

describe('WorkloadKey', () => {
  it('makes an ECDSA P-256 request, signed by its own key, naming the SPIFFE ID and the instance', async () => {
    const key = await WorkloadKey.generate();
    const csr = new x509.Pkcs10CertificateRequest(await key.certificateRequest(ORDERS));
    expect(await csr.verify()).toBe(true);
    expect(csr.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(csr.subject).toBe('CN=spiffe://meshlet.local/svc/orders/instance/orders-1');
    const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
    expect((san as x509.SubjectAlternativeNameExtension).names.toJSON()).toEqual([
      { type: 'url', value: 'spiffe://meshlet.local/svc/orders' },
    ]);
    const own = await x509.PublicKey.create(key.publicKey);
    expect(Buffer.from(csr.publicKey.rawData).equals(Buffer.from(own.rawData))).toBe(true);
  });

  it('puts no private key material in the request', async () => {
    const key = await WorkloadKey.generate();
    const pem = await key.privateKeyPem();
    const d = createPrivateKey(pem).export({ format: 'jwk' }).d as string;
    const csrDer = Buffer.from(x509.PemConverter.decodeFirst(await key.certificateRequest(ORDERS)));
    expect(csrDer.includes(Buffer.from(d, 'base64url'))).toBe(false);
  });

  it('gives its private key as PKCS#8 PEM that node:crypto reads, the pair of its public key', async () => {
    const key = await WorkloadKey.generate();
    const pem = await key.privateKeyPem();
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const privateKey = createPrivateKey(pem);
    expect(privateKey.asymmetricKeyDetails).toMatchObject({ namedCurve: 'prime256v1' });
    const spki = Buffer.from((await x509.PublicKey.create(key.publicKey)).rawData);
    expect(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).equals(spki)).toBe(true);
  });

  it('shows no key when logged or serialised', async () => {
    const key = await WorkloadKey.generate();
    expect(JSON.stringify({ key })).toBe('{"key":{"algorithm":"ECDSA P-256"}}');
  });

  it('refuses to ask for an identity that is not a SPIFFE ID of the mesh', async () => {
    const key = await WorkloadKey.generate();
    await expect(
      key.certificateRequest({ ...ORDERS, spiffeId: { trustDomain: 'meshlet.local', service: 'Not_A_Service' } }),
    ).rejects.toMatchObject({ code: 'MESHLET_SPIFFE_ID_INVALID' });
  });
});
