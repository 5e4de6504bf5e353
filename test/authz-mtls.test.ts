import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { authorizeInbound, type InboundAuthzContext, WorkloadKey } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import { createLogger, resolveAuthzPolicy } from '@meshlet/shared';
import { PeerIdentityVerifier, spiffeServerCheck } from '@meshlet/shared/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// authorizeInbound behind real mutual TLS: an HTTPS server standing for the
// callee's inbound listener reads the caller's SPIFFE id from the handshake
// (the peer verifier, as slice D's listener does) and hands it to
// authorizeInbound; callers present certificates the control plane's CA
// issued for their own service. What the policy sees is what TLS proved,
// not anything the caller says.

const TRUST_DOMAIN = 'meshlet.local';

interface Workload {
  key: string;
  cert: string;
}

let dir: string;
let ca: CertificateAuthority;
let verifier: PeerIdentityVerifier;
let server: Server;
let port: number;
const reached: string[] = [];

async function workload(service: string, instanceId: string): Promise<Workload> {
  const key = await WorkloadKey.generate();
  const csr = await key.certificateRequest({ spiffeId: { trustDomain: TRUST_DOMAIN, service }, instanceId });
  const issued = await ca.sign(csr, { service, instanceId });
  return { key: await key.privateKeyPem(), cert: issued.certificateChainPem };
}

function call(self: Workload, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ...self,
        ca: ca.trustBundle(),
        agent: false,
        checkServerIdentity: spiffeServerCheck(TRUST_DOMAIN, 'orders'),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-authz-mtls-'));
  ca = await CertificateAuthority.open({
    source: { kind: 'generated', dir: join(dir, 'ca') },
    clock: Date.now,
    leafLifetimeMs: 600_000,
  });
  verifier = new PeerIdentityVerifier({
    trustBundle: ca.trustBundle(),
    knownIntermediates: ca.issuerChain(),
    trustDomain: TRUST_DOMAIN,
    clock: Date.now,
  });
  const ctx: InboundAuthzContext = {
    service: 'orders',
    policy: () => resolveAuthzPolicy({ rules: [{ name: 'web-reads', from: ['web'], methods: ['GET'] }] }),
    trustDomain: () => TRUST_DOMAIN,
    log: createLogger('test', 'silent'),
  };
  const self = await workload('orders', 'orders-1');
  server = createServer(
    { ...self, ca: ca.trustBundle(), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
    (req, res) => {
      void verifier.verify((req.socket as TLSSocket).getPeerCertificate(true)).then((peer) => {
        if (!authorizeInbound(ctx, peer.ok ? peer.uri : undefined, req, res)) return;
        reached.push(`${peer.ok ? peer.id.service : '?'} ${req.method} ${req.url}`);
        res.end('ok');
      });
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('authorization over mutual TLS', () => {
  it('allows the caller whose certificate names an allowed service, and denies one of another service with 403', async () => {
    expect(await call(await workload('web', 'web-1'), 'GET', '/orders/7')).toEqual({ status: 200, body: 'ok' });
    const denied = await call(await workload('batch', 'batch-1'), 'GET', '/orders/7');
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toMatchObject({
      error: { code: 'MESHLET_AUTHZ_DENIED', caller: 'batch', service: 'orders', rule: 'no-allow-rule-matched' },
    });
    const write = await call(await workload('web', 'web-2'), 'DELETE', '/orders/7');
    expect(write.status).toBe(403);
    expect(reached).toEqual(['web GET /orders/7']);
  });
});
