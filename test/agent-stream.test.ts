import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { getJson, httpRequest } from './harness/http.js';
import { type AgentHandle, type AppHandle, startDemoApp, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The real agent binary against a scripted control plane (a bare WebSocket
// server in the test), to drive what a real control plane never sends.
describe('agent against a scripted control plane', () => {
  const mesh = withMesh();
  let wss: WebSocketServer;
  let port: number;
  const conns: Array<{ ws: WebSocket; messages: any[] }> = [];
  let agent: AgentHandle;
  let app: AppHandle;

  const latest = () => conns.at(-1) as { ws: WebSocket; messages: any[] };
  const table = (version: number, nonce: string, endpoints: unknown[]) =>
    JSON.stringify({ type: 'routes', version, nonce, services: { hello: { endpoints } } });

  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => {
      const c = { ws, messages: [] as any[] };
      conns.push(c);
      ws.on('message', (d) => c.messages.push(JSON.parse(d.toString())));
    });
    app = await startDemoApp('hello', 'hello-1');
    agent = await mesh.agent({
      agentId: 'client',
      cp: { streamUrl: `ws://127.0.0.1:${port}/v1/stream` },
      outbound: true,
      waitReady: false,
    });
  });
  afterAll(() => {
    wss.close();
  });

  it('says hello with protocol version 1 and holds no table yet', async () => {
    const hello = await waitFor('a hello', () => conns[0]?.messages.find((m) => m.type === 'hello'));
    expect(hello).toMatchObject({ protocolVersion: 1, agentId: 'client', tableVersion: 0 });
    expect((await httpRequest(agent.adminPort, '/ready')).status).toBe(503);
    const a = await httpRequest(agent.outboundPort as number, 'http://hello/');
    expect(a.status).toBe(503);
    expect(a.json().error.code).toBe('MESHLET_NO_ROUTING_TABLE');
  });

  it('ACKs a valid table and routes with it', async () => {
    // Endpoint straight at the demo app: the scripted table decides where traffic goes.
    latest().ws.send(
      table(5, 'n5', [{ id: 'hello-1', host: '127.0.0.1', port: app.port, tier: 0, weight: 1, labels: {} }]),
    );
    expect(await waitFor('an ack', () => latest().messages.find((m) => m.type === 'ack'))).toEqual({
      type: 'ack',
      version: 5,
      nonce: 'n5',
    });
    expect((await httpRequest(agent.outboundPort as number, 'http://hello/')).status).toBe(200);
  });

  it('NACKs an invalid table, answers other bad frames with an error, and keeps the previous table', async () => {
    latest().ws.send(table(6, 'n6', [{ id: 'bad', host: '127.0.0.1', port: 70000, tier: 0, weight: 1, labels: {} }]));
    const nack = await waitFor('a nack', () => latest().messages.find((m) => m.type === 'nack'));
    expect(nack).toMatchObject({ version: 6 });
    expect(nack.error).toContain('port');
    latest().ws.send('this is not json');
    latest().ws.send(JSON.stringify({ type: 'self-destruct' }));
    // Not a table: answered with an error, not a NACK (no table was refused).
    await waitFor('two errors', () => latest().messages.filter((m) => m.type === 'error').length === 2);
    const errors = latest().messages.filter((m) => m.type === 'error');
    expect(errors.map((m) => m.code)).toEqual(['MESHLET_PROTOCOL_INVALID_JSON', 'MESHLET_PROTOCOL_UNKNOWN_TYPE']);
    expect(latest().messages.filter((m) => m.type === 'nack')).toHaveLength(1);
    const config = await getJson(agent.adminPort, '/config');
    expect(config.table.version).toBe(5);
    expect((await httpRequest(agent.outboundPort as number, 'http://hello/')).status).toBe(200);
  });

  it('reconnects after the stream drops, announcing the version it holds', async () => {
    const before = conns.length;
    latest().ws.close(1011, 'scripted failure');
    const hello = await waitFor('a new hello', () =>
      conns.length > before ? latest().messages.find((m) => m.type === 'hello') : undefined,
    );
    expect(hello.tableVersion).toBe(5);
    expect(agent.proc.running).toBe(true);
  });
});
