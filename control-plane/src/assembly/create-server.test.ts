import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { compileValidator, ControlPlaneConfig, createLogger, systemClock } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.js';
import { createServer } from './create-server.js';

// Connection floods against the control plane's one listener (admin API
// and agents' stream), on real loopback sockets; 127.0.0.2 stands for
// another caller.

interface Probe {
  socket: Socket;
  data: string;
  closed: boolean;
}

async function open(port: number, from: string, send?: string): Promise<Probe> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  const p: Probe = { socket, data: '', closed: false };
  socket.on('data', (d: Buffer) => (p.data += d.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (p.closed = true));
  await once(socket, 'connect');
  if (send !== undefined) socket.write(send);
  return p;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = systemClock() + 10_000;
  while (!check()) {
    if (systemClock() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the control plane listener under a connection flood', { timeout: 20_000 }, () => {
  const metrics = createMetrics();
  let app: FastifyInstance;
  let port: number;
  const probes: Probe[] = [];
  const refused = async (reason: string) =>
    (await metrics.connectionsRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  beforeAll(async () => {
    const config = compileValidator(ControlPlaneConfig, { useDefaults: true })({
      listen: {
        port: 0,
        limits: { maxConnections: 8, maxConnectionsPerAddress: 3, headersTimeoutMs: 300, requestTimeoutMs: 600 },
      },
    });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    app = await createServer(config.value, createLogger('test', 'silent'), systemClock, metrics);
    app.get('/healthz', async () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const p of probes) p.socket.destroy();
    await app.close();
  });

  it('slow connections sending partial headers are closed after headersTimeout and counted', async () => {
    const slow: Probe[] = [];
    for (let i = 0; i < 3; i++) slow.push(await open(port, '127.0.0.1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    await until('the slow connections closed', () => slow.every((p) => p.closed));
    expect(slow.every((p) => p.data.startsWith('HTTP/1.1 408'))).toBe(true);
    expect(await refused('request_timeout')).toBe(3);
  });

  it('connections beyond the per-address cap are refused with 503 while another address gets through', async () => {
    for (let i = 0; i < 3; i++) probes.push(await open(port, '127.0.0.1'));
    const fourth = await open(port, '127.0.0.1', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the refused connection closed', () => fourth.closed);
    expect(fourth.data).toMatch(/^HTTP\/1.1 503 /);
    expect(fourth.data).toContain('"code":"MESHLET_CONNECTION_LIMIT"');
    expect(await refused('per_address')).toBe(1);
    const other = await open(port, '127.0.0.2', 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until('the other address answered', () => other.closed);
    expect(other.data).toMatch(/^HTTP\/1.1 200 /);
  });

  it('connections beyond maxConnections are refused', async () => {
    for (let i = 0; i < 3; i++) probes.push(await open(port, '127.0.0.2'));
    for (let i = 0; i < 2; i++) probes.push(await open(port, '127.0.0.3'));
    const ninth = await open(port, '127.0.0.4', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the refused connection closed', () => ninth.closed);
    expect(ninth.data).toContain('"reason":"max_connections"');
    expect(await refused('max_connections')).toBe(1);
  });
});
