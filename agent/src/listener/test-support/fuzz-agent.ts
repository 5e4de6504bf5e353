// A whole agent in process for the fuzz tests: outbound, inbound and admin
// listeners on loopback, an app behind it, and a scripted control plane (a
// bare WebSocket server) that sends one routing table, the agent's own
// service in permissive mTLS so that plaintext reaches the inbound HTTP
// parser. Test code only: the agent's build excludes `test-support` folders.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AgentConfig, compileValidator, createLogger, resolvePolicy } from '@meshlet/shared';
import { WebSocketServer } from 'ws';
import { Agent, type AgentAddresses } from '../../agent.js';
import { closeServer, ep, type Upstream, upstream, until } from './loopback.js';
import { routesOf } from './outbound.js';

/** The running agent and what it needs, and a function that stops them all. */
export interface FuzzAgent {
  addresses: AgentAddresses & { outbound: number; inbound: number };
  app: Upstream;
  stop: () => Promise<void>;
}

/** Starts the agent and waits until it has its routing table. */
export async function startFuzzAgent(): Promise<FuzzAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshlet-agent-fuzz-'));
  const app = await upstream('orders-1');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  let tables = 0;
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { type: string };
      if (m.type === 'ack') tables++;
      if (m.type !== 'hello') return;
      ws.send(JSON.stringify(routesOf([ep(app)], resolvePolicy({ mtls: { mode: 'permissive' } }), 1, 'orders')));
    });
  });
  const config = compileValidator(AgentConfig, { useDefaults: true })({
    agentId: 'orders-1',
    instance: { service: 'orders', app: { port: app.port } },
    upstreams: [{ service: 'orders' }],
    listeners: { outbound: { port: 0 }, inbound: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } },
    controlPlane: { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/stream` },
    dataDir,
  });
  if (!config.ok) throw new Error(JSON.stringify(config.issues));
  // Generated PUT /log-level bodies turn the log on: its lines go nowhere.
  const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() });
  const agent = new Agent(config.value, createLogger('fuzz', 'silent', nowhere));
  const addresses = (await agent.start()) as FuzzAgent['addresses'];
  await until(() => tables > 0, 'the agent to ACK its routing table', 10_000);
  return {
    addresses,
    app,
    stop: async () => {
      await agent.stop();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await closeServer(app.server);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
