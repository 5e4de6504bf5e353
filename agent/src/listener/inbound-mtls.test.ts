import { once } from 'node:events';
import { type AddressInfo, connect } from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { StaticWorkloadIdentity } from '../identity/static-workload-identity.js';
import { createAgentMetrics } from '../metrics.js';
import { InboundListener } from './inbound-listener.js';
import { handshakeRefusal, InboundMtls, type MtlsMode } from './inbound-mtls.js';
import { capturedLogger } from './test-support/log-capture.js';
import { closeServer, send, type Upstream, upstream } from './test-support/loopback.js';

// The inbound listener of an agent that has an identity but no certificate
// yet (its first one is on its way): no TLS caller can be served, and
// plaintext is treated by the mode as always, never let through for want
// of a certificate. The handshakes themselves, with certificates from a
// real CA, are in test/mtls-listeners.test.ts.

describe('InboundMtls before the first certificate', () => {
  let app: Upstream | undefined;
  let inbound: InboundListener | undefined;
  let pool: Pool | undefined;
  afterEach(async () => {
    inbound?.close();
    if (inbound) await closeServer(inbound.server);
    await pool?.close();
    if (app) await closeServer(app.server);
  });

  async function start(mode: MtlsMode, handshakeTimeoutMs = 5_000) {
    app = await upstream('hello-1');
    pool = new Pool(`http://127.0.0.1:${app.port}`);
    const { root, lines } = capturedLogger();
    const metrics = createAgentMetrics({ controlPlaneConnected: () => true, tableVersion: () => 1 });
    inbound = new InboundListener({
      app: pool,
      appName: 'hello',
      appHost: '127.0.0.1',
      appPort: app.port,
      log: root,
      requestTimeoutMs: 5_000,
      connectTimeoutMs: 1_000,
      metrics,
      mtls: (handOff) =>
        new InboundMtls(
          {
            identity: new StaticWorkloadIdentity(),
            mode: () => mode,
            log: root,
            clock: Date.now,
            handshakeTimeoutMs,
            metrics,
          },
          handOff,
        ),
    });
    inbound.server.listen(0, '127.0.0.1');
    await once(inbound.server, 'listening');
    const port = (inbound.server.address() as AddressInfo).port;
    const refusals = async (reason: string) =>
      (await metrics.mtlsRefusals.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
    return { port, lines, refusals };
  }

  it('closes a TLS caller, counted and logged, and refuses plaintext in strict mode', async () => {
    const { port, lines, refusals } = await start('strict');
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      socket.on('secureConnect', () => resolve(false));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
    expect(await refusals('no-certificate')).toBe(1);
    expect(lines.some((l) => l.reason === 'no-certificate')).toBe(true);

    const plain = await send(port, 'GET', undefined, undefined, 'hello');
    expect(plain.status).toBe(403);
    expect(plain.body).toContain('MESHLET_MTLS_REQUIRED');
    expect(app?.hits).toBe(0);
    expect(await refusals('plaintext')).toBe(1);
  });

  it('a flood of refused plaintext requests is counted in full but logged once per 10 s per reason', async () => {
    const { port, lines, refusals } = await start('strict');
    for (let i = 0; i < 20; i++) expect((await send(port, 'GET', undefined, undefined, 'hello')).status).toBe(403);
    expect(await refusals('plaintext')).toBe(20);
    expect(lines.filter((l) => l.reason === 'plaintext')).toHaveLength(1);
  });

  // Found by the listener fuzz test (raw-bytes.fuzz.test.ts): the socket stayed open until the handshake timeout.
  it('closes a connection that half-closes before its first byte at once, not at the handshake timeout', async () => {
    const { port } = await start('permissive', 600_000);
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end());
    socket.on('error', () => undefined);
    await once(socket, 'close');
  });

  it('relays plaintext in permissive mode, keeping the connection for the next request', async () => {
    const { port } = await start('permissive');
    expect((await send(port, 'GET', undefined, undefined, 'hello')).status).toBe(200);
    expect((await send(port, 'GET', undefined, undefined, 'hello')).status).toBe(200);
    expect(app?.hits).toBe(2);
  });

  it('closes a caller that sends nothing (slowloris) once the first-byte deadline passes', async () => {
    const { port } = await start('strict', 200);
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    await once(socket, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe('handshakeRefusal', () => {
  it.each([
    [{ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 'expired'],
    [{ code: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', message: 'alert' }, 'expired'],
    [{ code: 'CERT_NOT_YET_VALID', message: 'certificate is not yet valid' }, 'not-yet-valid'],
    [{ code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', message: 'x' }, 'no-certificate'],
    [{ code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', message: 'x' }, 'untrusted'],
    [{ code: 'ECONNRESET', message: 'socket hang up' }, undefined],
  ])('reads %o as %s', (err, reason) => {
    expect(handshakeRefusal(Object.assign(new Error(err.message), { code: err.code }))).toBe(reason);
  });

  // Node 20 reports a refused client certificate as ECONNRESET "socket hang up"; OpenSSL's verdict is the socket's.
  it.each([
    ['CERT_HAS_EXPIRED', 'expired'],
    ['CERT_NOT_YET_VALID', 'not-yet-valid'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'untrusted'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'untrusted'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted'],
  ])('reads a socket hang up with authorizationError %s as %s', (verdict, reason) => {
    const hangUp = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(handshakeRefusal(hangUp, verdict)).toBe(reason);
  });
});
