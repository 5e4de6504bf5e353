import { Writable } from 'node:stream';
import { createLogger } from '@meshlet/shared';
import { x509 } from '@meshlet/shared/identity';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../identity/certificate-authority.js';
import { makeRequest } from '../identity/test-support/requests.js';
import { createMetrics } from '../metrics.js';
import { StreamCertificateAuth, type StreamTrust } from './stream-certificate-auth.js';

const T0 = Date.parse('2026-12-04T12:00:00Z');
const HOUR = 3600_000;

/** A leaf of `ca` for `service`/`instanceId`, as the DER chain a TLS socket hands over (leaf, then issuers). */
async function leafOf(ca: CertificateAuthority, service: string, instanceId: string): Promise<Uint8Array[]> {
  const issued = await ca.sign((await makeRequest({ service, instanceId })).pem, { service, instanceId });
  serials.set(`${service}/${instanceId}`, issued.serialNumber);
  return x509.PemConverter.decode(issued.certificateChainPem).map((der) => new Uint8Array(der));
}

const serials = new Map<string, string>();

const trustOf = (ca: CertificateAuthority): StreamTrust => ({
  roots: ca.trustBundle(),
  intermediates: ca.issuerChain(),
});

const ignored = async (metrics: ReturnType<typeof createMetrics>, reason: string): Promise<number> =>
  (await metrics.streamCertificatesIgnored.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

function setup(trust: () => StreamTrust, clock: () => number) {
  const metrics = createMetrics();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger('test', 'warn', sink);
  const auth = new StreamCertificateAuth({ trust, trustDomain: 'meshlet.local', clock, metrics, log });
  return { auth, metrics, lines };
}

describe('StreamCertificateAuth', () => {
  it("authenticates a workload certificate of the mesh CA as its service and instance, from the leaf alone (Node 24's server side)", async () => {
    let now = T0;
    const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => now });
    const { auth } = setup(
      () => trustOf(ca),
      () => now,
    );
    const chain = await leafOf(ca, 'hello', 'hello-1');
    expect(await auth.authenticate([chain[0] as Uint8Array], '127.0.0.1')).toMatchObject({
      service: 'hello',
      instanceId: 'hello-1',
      spiffeId: 'spiffe://meshlet.local/svc/hello',
      serialNumber: serials.get('hello/hello-1'),
    });
    expect(await auth.authenticate(chain, '127.0.0.1')).toMatchObject({ service: 'hello', instanceId: 'hello-1' });
    now += HOUR;
    expect(await auth.authenticate(chain, '127.0.0.1')).toMatchObject({ service: 'hello' });
  });

  it('authenticates nobody without a certificate, and counts nothing', async () => {
    const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    const { auth, metrics } = setup(
      () => trustOf(ca),
      () => T0,
    );
    expect(await auth.authenticate(undefined, '127.0.0.1')).toBeUndefined();
    expect(await auth.authenticate({} as never, '127.0.0.1')).toBeUndefined();
    expect((await metrics.streamCertificatesIgnored.get()).values).toEqual([]);
  });

  it('attack: an expired certificate does not authenticate (counted as expired, logged once a minute)', async () => {
    let now = T0;
    const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => now, leafLifetimeMs: HOUR });
    const { auth, metrics, lines } = setup(
      () => trustOf(ca),
      () => now,
    );
    const chain = await leafOf(ca, 'hello', 'hello-1');
    expect(await auth.authenticate(chain, '127.0.0.1')).toBeDefined();
    now += 2 * HOUR;
    expect(await auth.authenticate(chain, '203.0.113.9')).toBeUndefined();
    expect(await auth.authenticate(chain, '203.0.113.9')).toBeUndefined();
    expect(await ignored(metrics, 'expired')).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ignored a client certificate on the agent stream');
    expect(lines[0]).toContain('203.0.113.9');
    expect(lines[0]).not.toContain('BEGIN');
  });

  it('attack: a certificate from another CA does not authenticate (counted as untrusted)', async () => {
    const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    const foreign = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    const { auth, metrics } = setup(
      () => trustOf(ca),
      () => T0,
    );
    // Even when the foreign issuer comes along in the chain: it leads to no root of the mesh.
    expect(await auth.authenticate(await leafOf(foreign, 'hello', 'hello-1'), '127.0.0.1')).toBeUndefined();
    expect(await ignored(metrics, 'untrusted')).toBe(1);
  });

  it('reads the trust at every authentication: a root added (rotation) is trusted at once, a root removed no more', async () => {
    const oldCa = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    const newCa = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    let trust: StreamTrust = trustOf(oldCa);
    let reads = 0;
    const { auth } = setup(
      () => {
        reads++;
        return trust;
      },
      () => T0,
    );
    const fromNew = await leafOf(newCa, 'hello', 'hello-1');
    const fromOld = await leafOf(oldCa, 'orders', 'orders-1');
    expect(await auth.authenticate(fromNew, '127.0.0.1')).toBeUndefined();
    trust = {
      roots: [...oldCa.trustBundle(), ...newCa.trustBundle()],
      intermediates: [...oldCa.issuerChain(), ...newCa.issuerChain()],
    };
    expect(await auth.authenticate([fromNew[0] as Uint8Array], '127.0.0.1')).toMatchObject({ service: 'hello' });
    expect(await auth.authenticate(fromOld, '127.0.0.1')).toMatchObject({ service: 'orders' });
    trust = trustOf(newCa);
    expect(await auth.authenticate(fromOld, '127.0.0.1')).toBeUndefined();
    expect(reads).toBe(4);
  });

  it('authenticates nobody with an empty trust bundle, and stays up', async () => {
    const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: () => T0 });
    const { auth, metrics } = setup(
      () => ({ roots: [], intermediates: [] }),
      () => T0,
    );
    expect(await auth.authenticate(await leafOf(ca, 'hello', 'hello-1'), '127.0.0.1')).toBeUndefined();
    expect(await ignored(metrics, 'untrusted')).toBe(1);
  });
});
