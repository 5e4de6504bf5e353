import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentConfig,
  buildRing,
  compileValidator,
  createLogger,
  type Endpoint,
  type Routes,
  resolvePolicy,
  tableChecksum,
} from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { Agent, type AgentAddresses } from './agent.js';
import { closeServer, send, type Upstream, upstream, until } from './listener/test-support/loopback.js';

// A whole agent in process against a scripted control plane (a bare
// WebSocket server in the test) and a real app on loopback: the stream side
// of subscriptions, deltas, ring checksums and observations.

interface Conn {
  ws: WebSocket;
  messages: Array<Record<string, any>>;
}

describe('Agent against a scripted control plane', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshlet-agent-test-'));
  let wss: WebSocketServer;
  const conns: Conn[] = [];
  let app: Upstream;
  let agent: Agent;
  let addr: AgentAddresses;

  const latest = () => conns.at(-1) as Conn;
  /** The first message of `type` on the latest stream that `where` accepts, waited for. */
  const message = async (type: string, where: (m: Record<string, any>) => boolean = () => true) => {
    let found: Record<string, any> | undefined;
    await until(
      () => (found = latest()?.messages.find((m) => m.type === type && where(m))) !== undefined,
      `a ${type} message`,
    );
    return found as Record<string, any>;
  };
  const push = (routes: Routes) => latest().ws.send(JSON.stringify(routes));
  const endpoint = (): Endpoint => ({ id: 'app-1', host: '127.0.0.1', port: app.port, tier: 0, weight: 1, labels: {} });
  const ring = {
    version: 4,
    members: [
      { id: 'app-1', weight: 1 },
      { id: 'app-2', weight: 2 },
    ],
  };
  /** The table persisted in the data directory, if written yet (written crash-safely: never half). */
  const persisted = (): Routes | undefined => {
    try {
      return JSON.parse(readFileSync(join(dataDir, 'routing-table.json'), 'utf8')) as Routes;
    } catch {
      return undefined;
    }
  };
  const admin = async () =>
    (await fetch(`http://127.0.0.1:${addr.admin}/config`)).json() as Promise<Record<string, any>>;

  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws) => {
      const c: Conn = { ws, messages: [] };
      conns.push(c);
      ws.on('message', (d) => c.messages.push(JSON.parse(String(d)) as Record<string, any>));
    });
    app = await upstream('app-1');
    const validate = compileValidator(AgentConfig, { useDefaults: true });
    const config = validate({
      agentId: 'client-1',
      upstreams: [{ service: 'orders' }],
      listeners: { outbound: { port: 0 }, admin: { port: 0 } },
      controlPlane: {
        url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/stream`,
        reconnectInitialDelayMs: 10,
        observationIntervalMs: 100,
        subscribeWaitMs: 10_000,
      },
      dataDir,
    });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    agent = new Agent(config.value, createLogger('test', 'silent'));
    addr = await agent.start();
  });
  afterAll(async () => {
    await agent.stop();
    for (const c of conns) c.ws.terminate();
    wss.close();
    await closeServer(app.server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('names its declared upstreams in the hello, port or not', async () => {
    expect(await message('hello')).toMatchObject({ agentId: 'client-1', tableVersion: 0, upstreams: ['orders'] });
  });

  it('ACKs a full table with the checksum of each published ring', async () => {
    const policy = resolvePolicy({ balancer: { kind: 'ring_hash', ringMinSize: 64 } });
    push({
      type: 'routes',
      version: 1,
      nonce: 'n1',
      services: { orders: { endpoints: [endpoint()], policy, ring }, users: { endpoints: [endpoint()] } },
    });
    const ack = await message('ack', (m) => m.version === 1);
    expect(ack).toEqual({
      type: 'ack',
      version: 1,
      nonce: 'n1',
      ringChecksums: { orders: { version: 4, checksum: tableChecksum(buildRing(ring.members, 64)) } },
    });
    expect((await admin()).ringChecksums).toEqual(ack.ringChecksums);
  });

  it('applies a delta onto the table held, persists the merged table and ACKs it', async () => {
    push({
      type: 'routes',
      version: 2,
      nonce: 'n2',
      baseVersion: 1,
      services: { stock: { endpoints: [endpoint()], activeTier: 0 } },
      removed: ['users'],
    });
    const ack = await message('ack', (m) => m.version === 2);
    expect(ack.ringChecksums.orders.version).toBe(4);
    expect(agent.table?.serviceNames()).toEqual(['orders', 'stock']);
    await until(() => persisted()?.version === 2, 'the merged table on disk');
    const onDisk = persisted() as Routes;
    expect(onDisk.baseVersion).toBeUndefined();
    expect(Object.keys(onDisk.services).sort()).toEqual(['orders', 'stock']);
    expect((await send(addr.outbound as number, 'GET', undefined, undefined, 'stock')).status).toBe(200);
    expect((await admin()).balancing.stock.activeTier).toBe(0);
  });

  it('NACKs a delta built on a version it does not hold, with MESHLET_DELTA_BASE_MISMATCH, and keeps its table', async () => {
    push({ type: 'routes', version: 3, nonce: 'n3', baseVersion: 1, services: {} });
    const nack = await message('nack', (m) => m.version === 3);
    expect(nack).toMatchObject({
      nonce: 'n3',
      code: 'MESHLET_DELTA_BASE_MISMATCH',
      error: expect.stringContaining('holds version 2'),
    });
    expect(agent.table?.version).toBe(2);
  });

  it('subscribes to a service learned from a request and routes the request once the table has it', async () => {
    const answer = send(addr.outbound as number, 'GET', undefined, undefined, 'pay');
    expect(await message('subscribe')).toEqual({ type: 'subscribe', services: ['pay'] });
    push({ type: 'routes', version: 3, nonce: 'n3b', baseVersion: 2, services: { pay: { endpoints: [endpoint()] } } });
    expect(await answer).toMatchObject({ status: 200, instance: 'app-1' });
    expect((await admin()).subscriptions).toEqual({ declared: ['orders'], learned: ['pay'] });
  });

  it('reports what it saw of the endpoints it called', async () => {
    const report = await message('observations', (m) =>
      m.endpoints.some((e: { service: string }) => e.service === 'pay'),
    );
    expect(report.windowMs).toBeGreaterThanOrEqual(1);
    expect(report.endpoints).toContainEqual({
      service: 'pay',
      id: 'app-1',
      ok: 1,
      failed: 0,
      latencyMs: expect.any(Number),
      latencyP99Ms: expect.any(Number),
    });
  });

  it('names declared and learned services (not merely held ones) in the hello after a reconnect', async () => {
    const before = conns.length;
    latest().ws.close(1011, 'scripted failure');
    await until(() => conns.length > before, 'a new stream');
    expect(await message('hello')).toMatchObject({ tableVersion: 3, upstreams: ['orders', 'pay'] });
  });

  // A hostile or mistaken table: 1000 services each asking for the largest
  // Maglev table (0.8 MiB of JSON; built, about 2.7 GB and half a minute of
  // a blocked event loop). The budget is checked by arithmetic before any
  // table is built; only one service has an endpoint, so that the agent
  // before the budget existed builds one table, ACKs, and this test fails
  // quickly instead of exhausting the machine.
  it('NACKs 1000 services each with maglevTableSize 655373 (MESHLET_TABLE_OVER_BUDGET, naming tableBudget.maxHashEntries) and keeps serving its table', async () => {
    const held = agent.table?.version as number;
    const policy = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });
    const services: Routes['services'] = {};
    for (let i = 0; i < 1000; i++) services[`hostile-${i}`] = { endpoints: i === 0 ? [endpoint()] : [], policy };
    push({ type: 'routes', version: held + 1, nonce: 'hostile', services });
    const nack = await message('nack', (m) => m.nonce === 'hostile');
    expect(nack).toMatchObject({
      code: 'MESHLET_TABLE_OVER_BUDGET',
      error: expect.stringContaining('tableBudget.maxHashEntries (16777216)'),
    });
    expect(nack.error).toContain('655373000 entries');
    expect(agent.table?.version).toBe(held);
    expect((await send(addr.outbound as number, 'GET', undefined, undefined, 'pay')).status).toBe(200);
  });

  // 20 services each with the largest Maglev table fit the default budget
  // (13 million entries) but take about a second to build. They are built in
  // slices that yield to the event loop, and installed at once: requests are
  // answered from the table in force meanwhile. Built in one go, as before,
  // no request could be answered until the new table was in.
  it('answers requests while a large table of hash tables is built, then installs and ACKs it', async () => {
    const held = agent.table?.version as number;
    const policy = resolvePolicy({ balancer: { kind: 'maglev', maglevTableSize: 655_373 } });
    const three = ['big-a', 'big-b', 'big-c'].map((id) => ({ ...endpoint(), id }));
    const services: Routes['services'] = { pay: { endpoints: [endpoint()] } };
    for (let i = 0; i < 20; i++) services[`big-${i}`] = { endpoints: three, policy };
    push({ type: 'routes', version: held + 1, nonce: 'big', services });
    let answeredWhileBuilding = 0;
    const acked = () => latest().messages.some((m) => m.type === 'ack' && m.nonce === 'big');
    for (let i = 0; i < 1000 && !acked(); i++) {
      const r = await send(addr.outbound as number, 'GET', undefined, undefined, 'pay');
      expect(r.status).toBe(200);
      if (agent.table?.version === held) answeredWhileBuilding++;
    }
    expect(answeredWhileBuilding).toBeGreaterThan(0);
    await message('ack', (m) => m.nonce === 'big');
    expect(agent.table?.version).toBe(held + 1);
    expect(agent.table?.serviceNames()).toHaveLength(21);
  });
});
