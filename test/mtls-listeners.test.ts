import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import * as tls from 'node:tls';
import type { WorkloadCertificate } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import { x509 } from '@meshlet/shared/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, issueWorkloadCertificate as issue, type MtlsPair, startMtlsPair } from './harness/mtls-agents.js';
import { waitFor } from './harness/wait.js';

// Mutual TLS in the agents' listeners, in process: two real agents (a
// caller for "orders", a callee fronting "hello"), each with a static
// identity issued by a real CertificateAuthority, real sockets and real TLS
// on loopback, and a scripted control plane that pushes the tables
// (test/harness/mtls-agents.ts).

describe('mutual TLS in the listeners', () => {
  let m: MtlsPair;
  beforeAll(async () => {
    m = await startMtlsPair();
  });
  afterAll(async () => {
    await m?.close();
  });
  const table = (services: Parameters<MtlsPair['table']>[0]) => m.table(services);
  const hello = (mode: 'strict' | 'permissive') => m.hello(mode);
  const calleeEndpoint = () => m.calleeEndpoint();
  const metric = (agent: MtlsPair['callerAddr'], line: string) => m.metric(agent, line);

  it('says in its hello that its endpoint speaks mTLS, and subscribes to its own service', async () => {
    const calleeHello = await waitFor('the callee’s hello', () => m.hellos.find((h) => h.agentId === 'hello-1'));
    expect(calleeHello.instance).toMatchObject({ service: 'hello', port: m.calleeAddr.inbound, mtls: true });
    expect(calleeHello.upstreams).toEqual(['hello']);
    expect(m.hellos.find((h) => h.agentId === 'orders-1')?.instance).toBeUndefined();
  });

  it('relays a call over mTLS and tells the app who called, in x-meshlet-caller', async () => {
    await table({ hello: hello('strict') });
    const answer = await call(m.callerAddr.outbound as number, 'hello');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ 'x-meshlet-caller': 'spiffe://meshlet.local/svc/orders' });
    expect(
      await metric(m.calleeAddr, 'meshlet_agent_mtls_handshakes_total{side="inbound",result="ok"}'),
    ).toBeGreaterThan(0);
    expect(
      await metric(m.callerAddr, 'meshlet_agent_mtls_handshakes_total{side="outbound",result="ok"}'),
    ).toBeGreaterThan(0);
  });

  it('carries an upgrade over mTLS, with the caller named and a spoofed name dropped', async () => {
    await table({ hello: hello('strict') });
    const upgraded = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: m.callerAddr.outbound as number,
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
    const before = m.app.seen.length;
    const answer = await call(m.calleeAddr.inbound as number, 'hello');
    expect(answer.status).toBe(403);
    expect(answer.headers['x-meshlet-error']).toBe('MESHLET_MTLS_REQUIRED');
    expect(JSON.parse(answer.body)).toMatchObject({
      error: { code: 'MESHLET_MTLS_REQUIRED', message: expect.stringContaining('mtls.mode') },
    });
    expect(m.app.seen.length).toBe(before);
    expect(await metric(m.calleeAddr, 'meshlet_agent_mtls_refusals_total{reason="plaintext"}')).toBeGreaterThan(0);
  });

  it('a spoofed caller header is stripped, over mTLS and over plaintext in permissive mode', async () => {
    const spoofed = {
      'x-meshlet-caller': 'spiffe://meshlet.local/svc/admin',
      'x-forwarded-client-cert': 'By=spiffe://meshlet.local/svc/hello;URI=spiffe://meshlet.local/svc/admin',
      'x-meshlet-anything': 'from outside',
    };
    await table({ hello: hello('strict') });
    const viaMesh = JSON.parse((await call(m.callerAddr.outbound as number, 'hello', '/', spoofed)).body);
    expect(viaMesh['x-meshlet-caller']).toBe('spiffe://meshlet.local/svc/orders');
    expect(viaMesh['x-forwarded-client-cert']).toBeUndefined();
    expect(viaMesh['x-meshlet-anything']).toBeUndefined();

    await table({ hello: hello('permissive') });
    const plain = await call(m.calleeAddr.inbound as number, 'hello', '/', spoofed);
    expect(plain.status).toBe(200);
    const seen = JSON.parse(plain.body);
    expect(seen['x-meshlet-caller']).toBeUndefined();
    expect(seen['x-forwarded-client-cert']).toBeUndefined();
    expect(seen['x-meshlet-anything']).toBeUndefined();
  });

  it('a caller with another CA’s certificate is refused by the callee, even in permissive mode', async () => {
    // Permissive lets plaintext through without an identity; it never takes a TLS caller's forged one.
    await table({ hello: hello('permissive') });
    const forged = await issue(m.otherCa, 'orders', 'orders-9');
    const before = m.app.seen.length;
    const outcome = await new Promise<{ error?: Error; body: string }>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: m.calleeAddr.inbound as number,
        key: forged.keyPem,
        cert: forged.certChainPem,
        // The forger trusts the real mesh's roots, so that only its own certificate is at stake.
        ca: m.ca.trustBundle(),
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
    expect(m.app.seen.length).toBe(before);
    expect(
      await metric(m.calleeAddr, 'meshlet_agent_mtls_handshakes_total{side="inbound",result="failed"}'),
    ).toBeGreaterThan(0);
  });

  it('a callee of the wrong service is refused by the caller before a byte of the request is sent', async () => {
    // The table (a compromised or mistaken control plane, a stale address) says "payments" lives where "hello" does.
    await table({ hello: hello('strict'), payments: { endpoints: [{ ...calleeEndpoint(), id: 'payments-1' }] } });
    const before = m.app.seen.length;
    const answer = await call(m.callerAddr.outbound as number, 'payments');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: {
        code: 'MESHLET_UPSTREAM_UNREACHABLE',
        message: expect.stringContaining(
          'the callee is spiffe://meshlet.local/svc/hello, not spiffe://meshlet.local/svc/payments',
        ),
      },
    });
    expect(m.app.seen.length).toBe(before);
    // A session resumed from the call to "hello" (same address) must not skip the check either.
    expect((await call(m.callerAddr.outbound as number, 'hello')).status).toBe(200);
    expect((await call(m.callerAddr.outbound as number, 'payments')).status).toBe(502);
  });

  it('a callee that refuses the handshake is a connect failure: the call is retried on another endpoint', async () => {
    // An endpoint whose certificate the caller cannot trust (another CA's): no request byte leaves, so, as for a
    // refused connection, another endpoint is tried, and the caller is never told 502.
    const rogue = await issue(m.otherCa, 'hello', 'hello-rogue');
    const server = tls.createServer({ key: rogue.keyPem, cert: rogue.certChainPem, minVersion: 'TLSv1.3' });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const base = hello('strict');
      await table({
        hello: { ...base, endpoints: [{ ...calleeEndpoint(), id: 'hello-rogue', port }, ...base.endpoints] },
      });
      const statuses: number[] = [];
      const bodies: string[] = [];
      for (let i = 0; i < 8; i++) {
        const a = await call(m.callerAddr.outbound as number, 'hello');
        statuses.push(a.status);
        bodies.push(a.body);
      }
      expect(statuses, bodies.join('\n')).toEqual(Array(8).fill(200));
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await table({ hello: hello('strict') });
    }
  });

  it('rotates the callee’s certificate without dropping a request; new connections get the new one', async () => {
    await table({ hello: hello('strict') });
    const serialOnHandshake = async (): Promise<string> => {
      const orders = await issue(m.ca, 'orders', 'orders-2');
      return new Promise((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: m.calleeAddr.inbound as number,
          key: orders.keyPem,
          cert: orders.certChainPem,
          ca: m.ca.trustBundle(),
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
      while (!stop) statuses.push((await call(m.callerAddr.outbound as number, 'hello')).status);
    });
    for (let i = 0; i < 3; i++) {
      const next = await issue(m.ca, 'hello', 'hello-1');
      m.calleeIdentity.set(next);
      expect((await serialOnHandshake()).toUpperCase()).toBe(serialOf(next));
      const sofar = statuses.length;
      await waitFor('requests to go on after the rotation', () => statuses.length >= sofar + 5);
    }
    stop = true;
    await Promise.all(loads);
    expect(statuses.length).toBeGreaterThan(15);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  it('a caller whose certificate expires while it keeps a busy keep-alive connection stops being served', async () => {
    // The certificate is checked in the handshake, once per connection; a caller sending without a pause would keep
    // its connection, and be served, for ever. The callee closes it when the certificate expires.
    // The mesh's own root and issuer, with short leaves: a callee on Node 24 sees only the caller's leaf in the
    // handshake (getPeerCertificate), and completes the path with the issuers it knows, its own.
    const shortCa = await CertificateAuthority.open({
      source: { kind: 'generated', dir: m.caDir },
      clock: Date.now,
      // Long enough to be served many times on a loaded machine (whole seconds: it may be one less).
      leafLifetimeMs: 6000,
    });
    const caller = await issue(shortCa, 'orders', 'orders-short');
    // As the certificate says it (whole seconds), which is what the callee goes by.
    const notAfter = new x509.X509Certificate(
      x509.PemConverter.decode(caller.certChainPem)[0] as ArrayBuffer,
    ).notAfter.getTime();
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1 });
    const served: Array<{ at: number; socket: object }> = [];
    let failedAfterExpiry = 0;
    try {
      await table({ hello: hello('strict') });
      const send = () =>
        new Promise<{ status: number; socket: object }>((resolve, reject) => {
          const req = httpsRequest(
            {
              host: '127.0.0.1',
              port: m.calleeAddr.inbound as number,
              headers: { host: 'hello' },
              agent,
              key: caller.keyPem,
              cert: caller.certChainPem,
              ca: m.ca.trustBundle(),
              minVersion: 'TLSv1.3',
              checkServerIdentity: () => undefined,
            },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: res.socket }));
            },
          );
          req.on('error', reject);
          req.end();
        });
      while (Date.now() < notAfter + 1500) {
        const outcome = await send().catch(() => undefined);
        if (outcome?.status === 200) served.push({ at: Date.now(), socket: outcome.socket });
        else if (Date.now() > notAfter) failedAfterExpiry++;
      }
    } finally {
      agent.destroy();
    }
    // It was served, over one keep-alive connection, up to its certificate's expiry, and never after.
    expect(served.length).toBeGreaterThan(5);
    expect(new Set(served.map((s) => s.socket)).size).toBe(1);
    expect(Math.max(...served.map((s) => s.at))).toBeLessThanOrEqual(notAfter + 250);
    expect(failedAfterExpiry).toBeGreaterThan(0);
    expect(await metric(m.calleeAddr, 'meshlet_agent_mtls_refusals_total{reason="expired"}')).toBeGreaterThan(0);
  });

  it('a caller whose certificate has expired is refused in the handshake, counted as expired', async () => {
    // Node reports such a handshake as "socket hang up" (ECONNRESET); the reason is the socket's authorizationError.
    const pastCa = await CertificateAuthority.open({
      source: { kind: 'memory' },
      clock: () => Date.now() - 3_600_000,
      leafLifetimeMs: 60_000,
    });
    const calleeCert = await issue(m.ca, 'hello', 'hello-1');
    m.calleeIdentity.set({
      ...calleeCert,
      trustBundlePem: [...m.ca.trustBundle(), ...pastCa.trustBundle()].join('\n'),
    });
    const expired = await issue(pastCa, 'orders', 'orders-expired');
    const line = 'meshlet_agent_mtls_refusals_total{reason="expired"}';
    const before = await metric(m.calleeAddr, line);
    const servedBefore = m.app.seen.length;
    try {
      await table({ hello: hello('permissive') });
      const outcome = await new Promise<{ secure: boolean; body: string }>((resolve) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port: m.calleeAddr.inbound as number,
          key: expired.keyPem,
          cert: expired.certChainPem,
          ca: m.ca.trustBundle(),
          minVersion: 'TLSv1.3',
          checkServerIdentity: () => undefined,
        });
        const result = { secure: false, body: '' };
        socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: hello\r\nconnection: close\r\n\r\n'));
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => (result.body += c));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(result));
      });
      expect(outcome.body).toBe('');
      expect(m.app.seen.length).toBe(servedBefore);
      await waitFor('the refusal to be counted as expired', async () => (await metric(m.calleeAddr, line)) > before);
    } finally {
      m.calleeIdentity.set(calleeCert);
    }
  });
});
