import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { WorkloadKey } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import { type PeerIdentity, PeerIdentityVerifier, spiffeServerCheck, x509 } from '@meshlet/shared/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The identity building blocks end to end, on real sockets: an agent's key
// and request (agent/src/identity), the control plane's CA
// (control-plane/src/identity), and node:tls mutual TLS with the issued
// leaves and the trust bundle, each side reading the other's SPIFFE ID.

const TRUST_DOMAIN = 'meshlet.local';

interface Workload {
  key: string;
  cert: string;
}

let dir: string;
/** The CA's clock runs this far from the wall clock: it is made two hours ago, so that it can sign in the past. */
let caClockShiftMs = -2 * 3600_000;
let ca: CertificateAuthority;
let verifier: PeerIdentityVerifier;

/** What an agent does: its own key, a request, the certificate the CA signs for the service it authenticated as. */
async function workload(authority: CertificateAuthority, service: string, instanceId: string): Promise<Workload> {
  const key = await WorkloadKey.generate();
  const csr = await key.certificateRequest({ spiffeId: { trustDomain: TRUST_DOMAIN, service }, instanceId });
  const issued = await authority.sign(csr, { service, instanceId });
  return { key: await key.privateKeyPem(), cert: issued.certificateChainPem };
}

interface Server {
  port: number;
  /**
   * What the server's verifier said of each client that node:tls let through
   * (its `secureConnection`). With `rejectUnauthorized`, Node destroys a
   * connection whose client certificate fails verification before that
   * event, without an alert naming the reason, so the tests below read the
   * reason from the verifier.
   */
  accepted: PeerIdentity[];
  close(): Promise<void>;
}

async function startServer(self: Workload, bundle: string[]): Promise<Server> {
  const accepted: PeerIdentity[] = [];
  const server = tls.createServer(
    { ...self, ca: bundle, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (socket) => {
      void verifier.verify(socket.getPeerCertificate(true)).then((identity) => {
        accepted.push(identity);
        socket.end(JSON.stringify(identity));
      });
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    server.close();
    await once(server, 'close');
  };
  return { port: (server.address() as AddressInfo).port, accepted, close };
}

interface Call {
  /** The server's identity, as the client's verifier read it. */
  server?: PeerIdentity;
  /** The client's identity, as the server answered it. */
  seenByServer?: PeerIdentity;
  error?: Error;
}

/** A call as an agent would make it: its certificate, the bundle, and the service it means to reach. */
function call(port: number, self: Workload | undefined, bundle: string[], expectedService: string): Promise<Call> {
  return new Promise((resolve) => {
    const result: Call = {};
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ...self,
      ca: bundle,
      minVersion: 'TLSv1.3',
      checkServerIdentity: spiffeServerCheck(TRUST_DOMAIN, expectedService),
    });
    let body = '';
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => {
      void verifier.verify(socket.getPeerCertificate(true), expectedService).then((id) => (result.server = id));
    });
    socket.on('data', (chunk: string) => (body += chunk));
    socket.on('error', (err) => (result.error = err));
    socket.on('close', () => {
      if (body !== '') result.seenByServer = JSON.parse(body) as PeerIdentity;
      resolve(result);
    });
  });
}

/** A workload's chain as DER, leaf first. */
const chainOf = (w: Workload): Uint8Array[] => x509.PemConverter.decode(w.cert).map((der) => new Uint8Array(der));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-mtls-'));
  ca = await CertificateAuthority.open({
    source: { kind: 'generated', dir: join(dir, 'ca') },
    clock: () => Date.now() + caClockShiftMs,
    leafLifetimeMs: 60_000,
  });
  caClockShiftMs = 0;
  // The mesh's issuers too: Node 24's server side hands over only the client's leaf.
  verifier = new PeerIdentityVerifier({
    trustBundle: ca.trustBundle(),
    knownIntermediates: ca.issuerChain(),
    trustDomain: TRUST_DOMAIN,
    clock: Date.now,
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('mutual TLS with certificates the CA issued', () => {
  it('completes a handshake where each side reads the other’s SPIFFE ID', async () => {
    const server = await startServer(await workload(ca, 'hello', 'hello-1'), ca.trustBundle());
    try {
      const result = await call(server.port, await workload(ca, 'orders', 'orders-1'), ca.trustBundle(), 'hello');
      expect(result.error).toBeUndefined();
      expect(result.server).toMatchObject({ ok: true, uri: 'spiffe://meshlet.local/svc/hello', instanceId: 'hello-1' });
      expect(result.seenByServer).toMatchObject({
        ok: true,
        uri: 'spiffe://meshlet.local/svc/orders',
        id: { trustDomain: TRUST_DOMAIN, service: 'orders' },
        instanceId: 'orders-1',
      });
    } finally {
      await server.close();
    }
  });

  it('a caller refuses a callee presenting another service’s certificate than the one it meant to call', async () => {
    const server = await startServer(await workload(ca, 'hello', 'hello-1'), ca.trustBundle());
    try {
      const result = await call(server.port, await workload(ca, 'orders', 'orders-1'), ca.trustBundle(), 'payments');
      expect(result.error).toMatchObject({
        code: 'MESHLET_PEER_IDENTITY_REFUSED',
        message: expect.stringContaining(
          'the callee is spiffe://meshlet.local/svc/hello, not spiffe://meshlet.local/svc/payments',
        ),
      });
      expect(result.seenByServer).toBeUndefined();
      // The verifier says the same of the certificate, for the places where TLS did not check it.
      const hello = await workload(ca, 'hello', 'hello-2');
      expect(await verifier.verify(chainOf(hello), 'payments')).toMatchObject({ ok: false, reason: 'wrong-service' });
      expect(await verifier.verify(chainOf(hello), 'hello')).toMatchObject({ ok: true });
    } finally {
      await server.close();
    }
  });

  it('a callee refuses a caller whose certificate has expired', async () => {
    // Issued an hour ago with a one-minute lifetime, by the CA every peer trusts.
    caClockShiftMs = -3600_000;
    const expired = await workload(ca, 'orders', 'orders-1');
    caClockShiftMs = 0;
    const server = await startServer(await workload(ca, 'hello', 'hello-1'), ca.trustBundle());
    try {
      const result = await call(server.port, expired, ca.trustBundle(), 'hello');
      expect(result.seenByServer).toBeUndefined();
      expect(server.accepted).toEqual([]);
      expect(await verifier.verify(chainOf(expired))).toMatchObject({
        ok: false,
        reason: 'expired',
        message: expect.stringContaining("the peer's certificate expired at"),
      });
    } finally {
      await server.close();
    }
  });

  it('a callee refuses a caller with a certificate from another CA, and one with none', async () => {
    const otherCa = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'other-ca') },
      clock: Date.now,
    });
    const forged = await workload(otherCa, 'orders', 'orders-1');
    const server = await startServer(await workload(ca, 'hello', 'hello-1'), ca.trustBundle());
    try {
      const foreign = await call(server.port, forged, ca.trustBundle(), 'hello');
      expect(foreign.seenByServer).toBeUndefined();
      const anonymous = await call(server.port, undefined, ca.trustBundle(), 'hello');
      expect(anonymous.seenByServer).toBeUndefined();
      expect(server.accepted).toEqual([]);
      expect(anonymous.error).toMatchObject({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
      expect(await verifier.verify(chainOf(forged))).toMatchObject({ ok: false, reason: 'untrusted' });
      expect(await verifier.verify(undefined)).toMatchObject({ ok: false, reason: 'no-certificate' });
    } finally {
      await server.close();
    }
  });

  it('a caller refuses a callee with a certificate from another CA', async () => {
    const otherCa = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'other-ca') },
      clock: Date.now,
    });
    const server = await startServer(await workload(otherCa, 'hello', 'hello-1'), ca.trustBundle());
    try {
      const result = await call(server.port, await workload(ca, 'orders', 'orders-1'), ca.trustBundle(), 'hello');
      expect(result.error).toMatchObject({ code: expect.stringMatching(/UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/) });
      expect(result.seenByServer).toBeUndefined();
      expect(server.accepted).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
