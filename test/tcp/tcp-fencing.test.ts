import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentAddresses, StaticWorkloadIdentity } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import {
  AgentConfig,
  compileValidator,
  createLogger,
  type Endpoint,
  type FailoverState,
  resolvePolicy,
  type Routes,
} from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { issueWorkloadCertificate } from '../harness/mtls-agents.js';
import { waitFor } from '../harness/wait.js';
import { type EchoApp, echoApp, lineClient } from './tcp-apps.js';

// Caller-side fencing of a managed service's primary: real agents in
// process (workload certificates from a real CA, so the hop is mTLS with
// ALPN meshlet-tcp/1) under a scripted control plane (a bare WebSocket
// server) that pushes tables with the service's failover state, as the
// control plane's failover publishes it: the term, and the primary.

const validate = compileValidator(AgentConfig, { useDefaults: true });

describe('caller-side fencing of a managed TCP service', () => {
  let dir: string;
  let wss: WebSocketServer;
  const streams: WebSocket[] = [];
  const apps: Record<string, EchoApp> = {};
  const callees: Record<string, { agent: Agent; addr: AgentAddresses }> = {};
  let client: Agent;
  let clientAddr: AgentAddresses;
  let version = 0;

  const endpoint = (id: string, mtls = true): Endpoint => ({
    id,
    host: '127.0.0.1',
    port: callees[id]?.addr.inbound as number,
    tier: 0,
    weight: 1,
    labels: {},
    ...(mtls ? { mtls: true } : {}),
  });
  /** Pushes a table; `plaintext`: the endpoints serve no mTLS (agents without identity) and the service is permissive. */
  const push = async (failover: FailoverState, plaintext = false): Promise<void> => {
    version += 1;
    const policy = resolvePolicy({
      protocol: 'tcp',
      failover: { mode: 'managed' },
      ...(plaintext ? { mtls: { mode: 'permissive' } } : {}),
    });
    const endpoints = [endpoint('pg-1', !plaintext), endpoint('pg-2', !plaintext)];
    const routes = {
      type: 'routes',
      version,
      nonce: `n${version}`,
      services: { pg: { endpoints, policy, failover } },
    } as Routes;
    for (const ws of streams) ws.send(JSON.stringify(routes));
    const agents = [client, ...Object.values(callees).map((c) => c.agent)];
    await waitFor(`every agent to hold table ${version}`, () => agents.every((a) => a.table?.version === version));
  };
  const metric = async (line: string, admin = clientAddr.admin): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(line))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshlet-tcp-fencing-'));
    const ca = await CertificateAuthority.open({
      source: { kind: 'generated', dir: join(dir, 'ca') },
      clock: Date.now,
    });
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    wss.on('connection', (ws) => streams.push(ws));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/stream`;
    const log = createLogger('test', 'silent');
    const common = (agentId: string) => ({
      agentId,
      controlPlane: { url, reconnectInitialDelayMs: 10 },
      dataDir: join(dir, agentId),
    });
    for (const id of ['pg-1', 'pg-2']) {
      apps[id] = await echoApp(id);
      const config = validate({
        ...common(id),
        instance: { service: 'pg', app: { port: apps[id]?.port }, healthCheck: { intervalMs: 60_000 } },
        listeners: { inbound: { host: '127.0.0.1', port: 0 }, outbound: { enabled: false }, admin: { port: 0 } },
      });
      if (!config.ok) throw new Error(JSON.stringify(config.issues));
      const identity = new StaticWorkloadIdentity(await issueWorkloadCertificate(ca, 'pg', id));
      const agent = new Agent(config.value, log, { identity });
      callees[id] = { agent, addr: await agent.start() };
    }
    const config = validate({
      ...common('client'),
      service: 'writer',
      upstreams: [{ service: 'pg', port: 0, role: 'primary' }],
      listeners: { outbound: { enabled: false }, admin: { port: 0 } },
    });
    if (!config.ok) throw new Error(JSON.stringify(config.issues));
    const identity = new StaticWorkloadIdentity(await issueWorkloadCertificate(ca, 'writer', 'client'));
    client = new Agent(config.value, log, { identity });
    clientAddr = await client.start();
    await waitFor('three agents connected', () => streams.length >= 3);
  }, 60_000);

  afterAll(async () => {
    await client?.stop();
    for (const c of Object.values(callees)) await c.agent.stop();
    for (const ws of streams) ws.terminate();
    wss?.close();
    for (const app of Object.values(apps)) await app.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("attack: a caller's connection to a deposed (old term) primary is closed the moment the term changes", async () => {
    await push({ term: 1, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-2'] });
    const port = clientAddr.upstreams.pg as number;
    const old = await lineClient(port);
    expect(await old.ask('who')).toBe('pg-1');
    const closed = once(old.socket, 'close');
    await push({ term: 2, holder: 'pg-2', primary: 'pg-2', candidates: [] });
    await closed;
    expect(await old.ask('write after the new term')).toBe('closed');
    // New connections go to the new term's primary only.
    for (let i = 0; i < 3; i++) {
      const c = await lineClient(port);
      expect(await c.ask('who')).toBe('pg-2');
      c.socket.destroy();
    }
    await waitFor(
      'the fenced close counted',
      async () =>
        (await metric('meshlet_agent_tcp_closes_total{direction="outbound",service="pg",reason="fenced"}')) >= 1,
    );
  });

  it('refuses new connections at once while the table names no primary, and counts them', async () => {
    await push({ term: 3, candidates: ['pg-1'] });
    const before = apps['pg-1']!.connections + apps['pg-2']!.connections;
    const c = await lineClient(clientAddr.upstreams.pg as number);
    expect(await c.ask('who')).toBe('closed');
    expect(apps['pg-1']!.connections + apps['pg-2']!.connections).toBe(before);
    expect(
      await metric('meshlet_agent_tcp_connections_total{direction="outbound",service="pg",result="no_primary"}'),
    ).toBe(1);
  });

  it('a connection to the primary that keeps its term and endpoint survives a new table', async () => {
    await push({ term: 4, holder: 'pg-1', primary: 'pg-1', candidates: [] });
    const c = await lineClient(clientAddr.upstreams.pg as number);
    expect(await c.ask('who')).toBe('pg-1');
    await push({ term: 4, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-2'] });
    expect(await c.ask('still here')).toBe('still here');
    c.socket.destroy();
  });

  it('calls endpoints that serve no mTLS in plaintext (the magic line), when their service is permissive', async () => {
    await push({ term: 5, holder: 'pg-2', primary: 'pg-2', candidates: [] }, true);
    const admin = callees['pg-2']?.addr.admin as number;
    const before = await metric('meshlet_agent_inbound_connections_total{transport="plaintext"', admin);
    const c = await lineClient(clientAddr.upstreams.pg as number);
    expect(await c.ask('who')).toBe('pg-2');
    expect(await c.ask('in plaintext')).toBe('in plaintext');
    c.socket.destroy();
    expect(await metric('meshlet_agent_inbound_connections_total{transport="plaintext"', admin)).toBe(before + 1);
  });
});
