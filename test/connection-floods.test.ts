import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { httpRequest } from './harness/http.js';
import { type AgentHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Connection floods against real agent processes on loopback: slow callers
// that never finish their headers on an instance's inbound listener (its
// mTLS sniffing path), and more connections than the client agent's outbound
// listener lets one address or the listener hold. 127.0.0.2 and 127.0.0.3
// stand for other callers (all of 127/8 is loopback on Linux). The limits
// are set through MESHLET_* variables, which the spawned agents inherit.

const LIMITS: Record<string, string> = {
  MESHLET_LISTENERS_INBOUND_LIMITS_HEADERS_TIMEOUT_MS: '1000',
  MESHLET_LISTENERS_INBOUND_LIMITS_REQUEST_TIMEOUT_MS: '2000',
  MESHLET_LISTENERS_OUTBOUND_LIMITS_MAX_CONNECTIONS: '6',
  MESHLET_LISTENERS_OUTBOUND_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: '4',
};

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

/** One whole request for `http://hello/greet` through the outbound listener on `port`, from `from`. */
function greet(port: number, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: 'http://hello/greet', localAddress: from, agent: false, timeout: 10_000 },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The value of the series `name{labels}` (labels as the exposition writes them) on an agent's /metrics; 0 when absent. */
async function metric(agent: AgentHandle, series: string): Promise<number> {
  const text = (await httpRequest(agent.adminPort, '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('connection floods against real agents', () => {
  const mesh = withMesh();

  it('closes slow partial headers after headersTimeout and refuses beyond the caps, counted, while serving normal requests', async () => {
    const saved = Object.fromEntries(Object.keys(LIMITS).map((k) => [k, process.env[k]]));
    Object.assign(process.env, LIMITS);
    let started;
    try {
      started = await mesh.start({ instances: { hello: ['hello-1'] }, client: { calls: ['hello'] } });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const { agents, client } = started;
    const hello = agents['hello-1'] as AgentHandle;
    const outbound = client.outboundPort as number;

    // 1. A bounded flood of slow callers on the instance's inbound listener.
    const slow: Probe[] = [];
    for (let i = 0; i < 100; i++)
      slow.push(await open(hello.inboundPort as number, '127.0.0.1', 'GET /greet HTTP/1.1\r\nHost: hello\r\nX-Slow: '));
    expect((await greet(outbound, '127.0.0.1')).status).toBe(200);
    await waitFor('every slow connection closed', () => slow.every((p) => p.closed));
    expect(slow.filter((p) => p.data.startsWith('HTTP/1.1 408')).length).toBe(100);
    expect(
      await metric(hello, 'meshlet_agent_connections_refused_total{listener="inbound",reason="request_timeout"}'),
    ).toBe(100);

    // 2. One address fills its share of the client's outbound listener; another still gets through.
    const held: Probe[] = [];
    await waitFor(
      'the outbound listener idle',
      async () => (await metric(client, 'meshlet_agent_connections_open{listener="outbound"}')) === 0,
    );
    for (let i = 0; i < 4; i++) held.push(await open(outbound, '127.0.0.1'));
    const fifth = await open(outbound, '127.0.0.1', 'GET http://hello/greet HTTP/1.1\r\nHost: hello\r\n\r\n');
    await waitFor('the refused connection closed', () => fifth.closed);
    expect(fifth.data).toMatch(/^HTTP\/1.1 503 Service Unavailable\r\n/);
    expect(fifth.data).toContain('"code":"MESHLET_CONNECTION_LIMIT"');
    expect(fifth.data).toContain('"reason":"per_address"');
    expect(await greet(outbound, '127.0.0.2')).toMatchObject({ status: 200 });

    // 3. The listener full: a third address is refused too.
    await waitFor(
      'the other address closed its connection',
      async () => (await metric(client, 'meshlet_agent_connections_open{listener="outbound"}')) === 4,
    );
    for (let i = 0; i < 2; i++) held.push(await open(outbound, '127.0.0.2'));
    const seventh = await open(outbound, '127.0.0.3', 'GET http://hello/greet HTTP/1.1\r\nHost: hello\r\n\r\n');
    await waitFor('the refused connection closed', () => seventh.closed);
    expect(seventh.data).toContain('"reason":"max_connections"');
    expect(
      await metric(client, 'meshlet_agent_connections_refused_total{listener="outbound",reason="per_address"}'),
    ).toBe(1);
    expect(
      await metric(client, 'meshlet_agent_connections_refused_total{listener="outbound",reason="max_connections"}'),
    ).toBe(1);

    // Both agents are up, and the held connections, once gone, free the listener.
    expect(hello.proc.running && client.proc.running).toBe(true);
    for (const p of held) p.socket.destroy();
    await waitFor('the outbound listener freed', async () => (await greet(outbound, '127.0.0.3')).status === 200);
  });
});
