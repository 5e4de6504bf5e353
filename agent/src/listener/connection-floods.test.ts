import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfig, compileValidator, createLogger } from '@meshlet/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { Agent, type AgentAddresses } from '../agent.js';
import { closeServer, ep, type Upstream, upstream, until } from './test-support/loopback.js';

// Connection floods against a whole agent in process, on real loopback
// sockets: slow callers that never finish their headers, and more
// connections than a listener or one address may hold. 127.0.0.2 and
// 127.0.0.3 stand for other callers (all of 127/8 is loopback on Linux).
// Meanwhile the agent keeps serving a normal request through the mesh.

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

/** A normal request for `http://orders/x` through the outbound listener, from `from`. */
function normalRequest(port: number, from = '127.0.0.2'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: 'http://orders/x', localAddress: from, agent: false },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const PARTIAL = 'GET /x HTTP/1.1\r\nHost: web\r\nX-Slow: ';

describe('connection floods against the agent', { timeout: 20_000 }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshlet-floods-'));
  let wss: WebSocketServer;
  let stream: WebSocket | undefined;
  let app: Upstream;
  let agent: Agent;
  let addr: AgentAddresses;
  const probes: Probe[] = [];

  /** The agent's count of refusals on `listener` for `reason`. */
  const refused = async (listener: string, reason: string): Promise<number> => {
    const metric = await agent.metrics.connectionsRefused.get();
    return metric.values.find((v) => v.labels.listener === listener && v.labels.reason === reason)?.value ?? 0;
  };
  const openOn = async (listener: string): Promise<number> => {
    const metric = await agent.metrics.connectionsOpen.get();
    return metric.values.find((v) => v.labels.listener === listener)?.value ?? 0;
  };
  const hold = async (port: number, from: string, n: number) => {
    for (let i = 0; i < n; i++) probes.push(await open(port, from));
  };
  /** Waits until `listener` counts `n` connections open. */
  const openReaches = async (listener: string, n: number) => {
    let open = await openOn(listener);
    for (let tries = 0; open !== n; tries++) {
      if (tries > 500) throw new Error(`timed out waiting for ${n} connections open on ${listener} (${open})`);
      await new Promise((r) => setTimeout(r, 10));
      open = await openOn(listener);
    }
  };

  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws) => (stream = ws));
    app = await upstream('app-1');
    const validate = compileValidator(AgentConfig, { useDefaults: true });
    const config = validate({
      agentId: 'web-1',
      instance: { service: 'web', app: { port: app.port } },
      upstreams: [{ service: 'orders' }],
      listeners: {
        // Long timeouts: connections held by the cap tests stay open.
        outbound: {
          port: 0,
          limits: {
            maxConnections: 6,
            maxConnectionsPerAddress: 4,
            headersTimeoutMs: 60_000,
            requestTimeoutMs: 120_000,
          },
        },
        inbound: {
          host: '127.0.0.1',
          port: 0,
          limits: { maxConnectionsPerAddress: 30, headersTimeoutMs: 500, requestTimeoutMs: 1_000 },
        },
        admin: { port: 0, limits: { maxConnections: 3, maxConnectionsPerAddress: 3 } },
      },
      controlPlane: { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/stream` },
      dataDir,
    });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    agent = new Agent(config.value, createLogger('test', 'silent'));
    addr = await agent.start();
    await until(() => stream !== undefined, 'the agent stream');
    stream?.send(
      JSON.stringify({ type: 'routes', version: 1, nonce: 'n1', services: { orders: { endpoints: [ep(app)] } } }),
    );
    await until(() => agent.table?.version === 1, 'the routing table');
  });
  afterEach(() => {
    for (const p of probes.splice(0)) p.socket.destroy();
  });
  afterAll(async () => {
    await agent.stop();
    stream?.terminate();
    wss.close();
    await closeServer(app.server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('slow connections sending partial headers are closed after headersTimeout while the agent serves a normal request', async () => {
    const port = addr.inbound as number;
    const slow: Probe[] = [];
    // A bounded flood from one address: 30 are admitted (its per-address cap), the rest refused without a byte.
    for (let i = 0; i < 40; i++) slow.push(await open(port, '127.0.0.1', PARTIAL));
    expect(await normalRequest(addr.outbound as number)).toEqual({ status: 200, body: 'app-1' });
    await until(() => slow.every((p) => p.closed), 'every slow connection closed', 15_000);
    const timedOut = slow.filter((p) => p.data.startsWith('HTTP/1.1 408')).length;
    const refusedAtOnce = slow.filter((p) => p.data === '').length;
    expect(timedOut + refusedAtOnce).toBe(40);
    expect(await refused('inbound', 'request_timeout')).toBe(timedOut);
    expect(await refused('inbound', 'per_address')).toBe(refusedAtOnce);
    expect(timedOut).toBeGreaterThanOrEqual(30);
    expect(await normalRequest(addr.outbound as number)).toEqual({ status: 200, body: 'app-1' });
  });

  it('connections beyond the per-address cap are refused with 503 and counted while another address gets through', async () => {
    const port = addr.outbound as number;
    await openReaches('outbound', 0);
    await hold(port, '127.0.0.1', 4);
    const fifth = await open(port, '127.0.0.1', 'GET http://orders/x HTTP/1.1\r\nHost: orders\r\n\r\n');
    await until(() => fifth.closed, 'the refused connection closed');
    expect(fifth.data).toMatch(/^HTTP\/1.1 503 Service Unavailable\r\n/);
    expect(fifth.data).toContain('connection: close');
    expect(fifth.data).toContain('"code":"MESHLET_CONNECTION_LIMIT"');
    expect(fifth.data).toContain('"reason":"per_address"');
    expect(await refused('outbound', 'per_address')).toBe(1);
    expect(await normalRequest(port, '127.0.0.2')).toEqual({ status: 200, body: 'app-1' });
    expect(app.hits).toBeGreaterThan(0);
  });

  it('connections beyond maxConnections are refused while the agent serves a normal request elsewhere', async () => {
    const port = addr.outbound as number;
    await openReaches('outbound', 0);
    await hold(port, '127.0.0.1', 4);
    await hold(port, '127.0.0.2', 2);
    await openReaches('outbound', 6);
    const seventh = await open_(port, '127.0.0.3');
    await until(() => seventh.closed, 'the refused connection closed');
    expect(seventh.data).toContain('"reason":"max_connections"');
    expect(await refused('outbound', 'max_connections')).toBe(1);
    // The inbound listener, on its own caps, still serves.
    const inbound = await open_(addr.inbound as number, '127.0.0.3');
    await until(() => inbound.closed || inbound.data.includes('\r\n\r\n'), 'an inbound answer');
    expect(inbound.data).toMatch(/^HTTP\/1.1 \d{3} /);
  });

  it('the admin listener refuses beyond its cap with 503 JSON', async () => {
    await openReaches('admin', 0);
    await hold(addr.admin, '127.0.0.1', 3);
    const fourth = await open_(addr.admin, '127.0.0.1');
    await until(() => fourth.closed, 'the refused admin connection closed');
    expect(fourth.data).toMatch(/^HTTP\/1.1 503 /);
    expect(fourth.data).toContain('"listener":"admin"');
    expect(await refused('admin', 'max_connections')).toBe(1);
  });
});

/** A connection that sends one whole request. */
function open_(port: number, from: string): Promise<Probe> {
  return open(port, from, 'GET http://orders/x HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n');
}
