import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import {
  Agent,
  type AgentAddresses,
  StaticWorkloadIdentity,
  type WorkloadCertificate,
  WorkloadKey,
} from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import {
  AgentConfig,
  compileValidator,
  createLogger,
  type Endpoint,
  type Routes,
  resolvePolicy,
} from '@meshlet/shared';
import { x509 } from '@meshlet/shared/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { waitFor } from './harness/wait.js';

// Mutual TLS in the agents' listeners, in process: two real agents (a
// caller for "orders", a callee fronting "hello"), each with a static
// identity issued by a real CertificateAuthority, real sockets and real TLS
// on loopback, and a scripted control plane (a bare WebSocket server) that
// pushes the tables, so that each test sets the callee's mTLS mode and the
// endpoints itself.

const TRUST_DOMAIN = 'meshlet.local';

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;

/** What the slice-A identity manager will hold: a key, the leaf and issuers the CA signed for it, the bundle. */
async function issue(
  authority: CertificateAuthority,
  service: string,
  instanceId: string,
): Promise<WorkloadCertificate> {
  const key = await WorkloadKey.generate();
  const csr = await key.certificateRequest({ spiffeId: { trustDomain: TRUST_DOMAIN, service }, instanceId });
  const issued = await authority.sign(csr, { service, instanceId });
  return {
    spiffeId: `spiffe://${TRUST_DOMAIN}/svc/${service}`,
    trustDomain: TRUST_DOMAIN,
    service,
    instanceId,
    keyPem: await key.privateKeyPem(),
    certChainPem: issued.certificateChainPem,
    trustBundlePem: authority.trustBundle().join('\n'),
    notAfterMs: issued.notAfter.getTime(),
  };
}

/** The app behind the callee: answers with the request headers it got, as JSON. */
interface App {
  server: Server;
  port: number;
  seen: IncomingHttpHeaders[];
}

async function echoApp(): Promise<App> {
  const app: App = { server: createServer(), port: 0, seen: [] };
  app.server.on('request', (req, res) => {
    app.seen.push(req.headers);
    req.resume();
    req.on('end', () => res.end(JSON.stringify(req.headers)));
  });
  app.server.on('upgrade', (req, socket) => {
    app.seen.push(req.headers);
    socket.end(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: test\r\nx-caller: ${String(req.headers['x-meshlet-caller'])}\r\n\r\n`,
    );
  });
  app.server.listen(0, '127.0.0.1');
  await once(app.server, 'listening');
  app.port = (app.server.address() as AddressInfo).port;
  return app;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(port: number, service: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: service, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const validate = compileValidator(AgentConfig, { useDefaults: true });

describe('mutual TLS in the listeners', () => {
  let wss: WebSocketServer;
  const streams: WebSocket[] = [];
  const hellos: Array<Record<string, any>> = [];
  let app: App;
  let calleeIdentity: StaticWorkloadIdentity;
  let callee: Agent;
  let calleeAddr: AgentAddresses;
  let caller: Agent;
  let callerAddr: AgentAddresses;
  let version = 0;

  /** Pushes a full table to every agent and waits until both hold it. */
  async function table(services: Routes['services']): Promise<void> {
    version += 1;
    const routes: Routes = { type: 'routes', version, nonce: `n${version}`, services };
    for (const ws of streams) ws.send(JSON.stringify(routes));
    await waitFor('both agents to hold the table', () => [caller, callee].every((a) => a.table?.version === version));
  }
  const calleeEndpoint = (): Endpoint => ({
    id: 'hello-1',
    host: '127.0.0.1',
    port: calleeAddr.inbound as number,
    tier: 0,
    weight: 1,
    labels: {},
    mtls: true,
  });
  const hello = (mode: 'strict' | 'permissive') => ({
    endpoints: [calleeEndpoint()],
    policy: resolvePolicy({ mtls: { mode } }),
  });
  const metric = async (agent: AgentAddresses, line: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${agent.admin}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(line));
    return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(' ') + 1));
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshlet-mtls-listeners-'));
    ca = await CertificateAuthority.open({ source: { kind: 'generated', dir: join(dir, 'ca') }, clock: Date.now });
    otherCa = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'other-ca') },
      clock: Date.now,
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws) => {
      streams.push(ws);
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, any>;
        if (m.type === 'hello') hellos.push(m);
      });
    });
    const cpUrl = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/stream`;
    app = await echoApp();
    const log = createLogger('test', 'silent');
    const common = (agentId: string) => ({
      agentId,
      controlPlane: { url: cpUrl, reconnectInitialDelayMs: 10 },
      dataDir: join(dir, agentId),
    });
    const calleeConfig = validate({
      ...common('hello-1'),
      instance: { service: 'hello', app: { host: '127.0.0.1', port: app.port }, healthCheck: { intervalMs: 60_000 } },
      listeners: { inbound: { host: '127.0.0.1', port: 0 }, outbound: { enabled: false }, admin: { port: 0 } },
    });
    const callerConfig = validate({
      ...common('orders-1'),
      upstreams: [{ service: 'hello' }],
      listeners: { outbound: { port: 0 }, admin: { port: 0 } },
    });
    if (!calleeConfig.ok || !callerConfig.ok) throw new Error('bad test config');
    calleeIdentity = new StaticWorkloadIdentity(await issue(ca, 'hello', 'hello-1'));
    callee = new Agent(calleeConfig.value, log, { identity: calleeIdentity });
    calleeAddr = await callee.start();
    caller = new Agent(callerConfig.value, log, {
      identity: new StaticWorkloadIdentity(await issue(ca, 'orders', 'orders-1')),
    });
    callerAddr = await caller.start();
    await waitFor('both agents connected', () => streams.length >= 2);
  });
  afterAll(async () => {
    await caller?.stop();
    await callee?.stop();
    for (const ws of streams) ws.terminate();
    wss?.close();
    app?.server.close();
    app?.server.closeAllConnections();
    await rm(dir, { recursive: true, force: true });
  });

  it('says in its hello that its endpoint speaks mTLS, and subscribes to its own service', async () => {
    const calleeHello = await waitFor('the callee’s hello', () => hellos.find((h) => h.agentId === 'hello-1'));
    expect(calleeHello.instance).toMatchObject({ service: 'hello', port: calleeAddr.inbound, mtls: true });
    expect(calleeHello.upstreams).toEqual(['hello']);
    expect(hellos.find((h) => h.agentId === 'orders-1')?.instance).toBeUndefined();
  });

  it('relays a call over mTLS and tells the app who called, in x-meshlet-caller', async () => {
    await table({ hello: hello('strict') });
    const answer = await call(callerAddr.outbound as number, 'hello');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ 'x-meshlet-caller': 'spiffe://meshlet.local/svc/orders' });
    expect(await metric(calleeAddr, 'meshlet_agent_mtls_handshakes_total{side="inbound",result="ok"}')).toBeGreaterThan(
      0,
    );
    expect(
      await metric(callerAddr, 'meshlet_agent_mtls_handshakes_total{side="outbound",result="ok"}'),
    ).toBeGreaterThan(0);
  });

  it('carries an upgrade over mTLS, with the caller named and a spoofed name dropped', async () => {
    await table({ hello: hello('strict') });
    const upgraded = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: callerAddr.outbound as number,
        headers: { host: 'hello', connection: 'Upgrade', upgrade: 'test', 'x-meshlet-caller': 'spiffe://x/svc/admin' },
      });
      req.on('upgrade', (res, socket) => {
        socket.destroy();
        resolve(res.headers);
      });
      req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
      req.on('error', reject);
      req.end();
    });
    expect(upgraded['x-caller']).toBe('spiffe://meshlet.local/svc/orders');
  });

  it('a plaintext call to a strict listener is refused with MESHLET_MTLS_REQUIRED, counted', async () => {
    await table({ hello: hello('strict') });
    const before = app.seen.length;
    const answer = await call(calleeAddr.inbound as number, 'hello');
    expect(answer.status).toBe(403);
    expect(answer.headers['x-meshlet-error']).toBe('MESHLET_MTLS_REQUIRED');
    expect(JSON.parse(answer.body)).toMatchObject({
      error: { code: 'MESHLET_MTLS_REQUIRED', message: expect.stringContaining('mtls.mode') },
    });
    expect(app.seen.length).toBe(before);
    expect(await metric(calleeAddr, 'meshlet_agent_mtls_refusals_total{reason="plaintext"}')).toBeGreaterThan(0);
  });

  it('a spoofed caller header is stripped, over mTLS and over plaintext in permissive mode', async () => {
    const spoofed = {
      'x-meshlet-caller': 'spiffe://meshlet.local/svc/admin',
      'x-forwarded-client-cert': 'By=spiffe://meshlet.local/svc/hello;URI=spiffe://meshlet.local/svc/admin',
      'x-meshlet-anything': 'from outside',
    };
    await table({ hello: hello('strict') });
    const viaMesh = JSON.parse((await call(callerAddr.outbound as number, 'hello', '/', spoofed)).body);
    expect(viaMesh['x-meshlet-caller']).toBe('spiffe://meshlet.local/svc/orders');
    expect(viaMesh['x-forwarded-client-cert']).toBeUndefined();
    expect(viaMesh['x-meshlet-anything']).toBeUndefined();

    await table({ hello: hello('permissive') });
    const plain = await call(calleeAddr.inbound as number, 'hello', '/', spoofed);
    expect(plain.status).toBe(200);
    const seen = JSON.parse(plain.body);
    expect(seen['x-meshlet-caller']).toBeUndefined();
    expect(seen['x-forwarded-client-cert']).toBeUndefined();
    expect(seen['x-meshlet-anything']).toBeUndefined();
  });

  it('a caller with another CA’s certificate is refused by the callee, even in permissive mode', async () => {
    // Permissive lets plaintext through without an identity; it never takes a TLS caller's forged one.
    await table({ hello: hello('permissive') });
    const forged = await issue(otherCa, 'orders', 'orders-9');
    const before = app.seen.length;
    const outcome = await new Promise<{ error?: Error; body: string }>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: calleeAddr.inbound as number,
        key: forged.keyPem,
        cert: forged.certChainPem,
        // The forger trusts the real mesh's roots, so that only its own certificate is at stake.
        ca: ca.trustBundle(),
        minVersion: 'TLSv1.3',
        checkServerIdentity: () => undefined,
      });
      const result: { error?: Error; body: string } = { body: '' };
      socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: hello\r\nconnection: close\r\n\r\n'));
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (result.body += c));
      socket.on('error', (e) => (result.error = e));
      socket.on('close', () => resolve(result));
    });
    expect(outcome.body).toBe('');
    expect(app.seen.length).toBe(before);
    expect(
      await metric(calleeAddr, 'meshlet_agent_mtls_handshakes_total{side="inbound",result="failed"}'),
    ).toBeGreaterThan(0);
  });

  it('a callee of the wrong service is refused by the caller before a byte of the request is sent', async () => {
    // The table (a compromised or mistaken control plane, a stale address) says "payments" lives where "hello" does.
    await table({ hello: hello('strict'), payments: { endpoints: [{ ...calleeEndpoint(), id: 'payments-1' }] } });
    const before = app.seen.length;
    const answer = await call(callerAddr.outbound as number, 'payments');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: {
        code: 'MESHLET_UPSTREAM_UNREACHABLE',
        message: expect.stringContaining(
          'the callee is spiffe://meshlet.local/svc/hello, not spiffe://meshlet.local/svc/payments',
        ),
      },
    });
    expect(app.seen.length).toBe(before);
    // A session resumed from the call to "hello" (same address) must not skip the check either.
    expect((await call(callerAddr.outbound as number, 'hello')).status).toBe(200);
    expect((await call(callerAddr.outbound as number, 'payments')).status).toBe(502);
  });

  it('rotates the callee’s certificate without dropping a request; new connections get the new one', async () => {
    await table({ hello: hello('strict') });
    const serialOnHandshake = async (): Promise<string> => {
      const orders = await issue(ca, 'orders', 'orders-2');
      return new Promise((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: calleeAddr.inbound as number,
          key: orders.keyPem,
          cert: orders.certChainPem,
          ca: ca.trustBundle(),
          minVersion: 'TLSv1.3',
          checkServerIdentity: () => undefined,
        });
        socket.on('secureConnect', () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.destroy();
        });
        socket.on('error', reject);
      });
    };
    const serialOf = (c: WorkloadCertificate) =>
      new x509.X509Certificate(x509.PemConverter.decode(c.certChainPem)[0] as ArrayBuffer).serialNumber.toUpperCase();

    let stop = false;
    const statuses: number[] = [];
    const loads = [1, 2, 3].map(async () => {
      while (!stop) statuses.push((await call(callerAddr.outbound as number, 'hello')).status);
    });
    for (let i = 0; i < 3; i++) {
      const next = await issue(ca, 'hello', 'hello-1');
      calleeIdentity.set(next);
      expect((await serialOnHandshake()).toUpperCase()).toBe(serialOf(next));
      const sofar = statuses.length;
      await waitFor('requests to go on after the rotation', () => statuses.length >= sofar + 5);
    }
    stop = true;
    await Promise.all(loads);
    expect(statuses.length).toBeGreaterThan(15);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });
});
