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
  /** A second caller whose port asks for no role (`upstreams: [{service: pg, port}]`). */
  let reader: Agent;
  let readerAddr: AgentAddresses;
  let version = 0;

  const endpoint = (id: string, mtls = true, role?: 'primary' | 'replica'): Endpoint => ({
    id,
    host: '127.0.0.1',
    port: callees[id]?.addr.inbound as number,
    tier: 0,
    weight: 1,
    labels: {},
    ...(mtls ? { mtls: true } : {}),
    ...(role ? { role } : {}),
  });
  /**
   * Pushes a table; `plaintext`: the endpoints serve no mTLS (agents without identity) and the service is
   * permissive; `roles`: what the instances' checks report.
   */
  const push = async (
    failover: FailoverState,
    plaintext = false,
    roles: Record<string, 'primary' | 'replica'> = {},
  ): Promise<void> => {
    version += 1;
    const policy = resolvePolicy({
      protocol: 'tcp',
      failover: { mode: 'managed' },
      ...(plaintext ? { mtls: { mode: 'permissive' } } : {}),
    });
    const endpoints = [endpoint('pg-1', !plaintext, roles['pg-1']), endpoint('pg-2', !plaintext, roles['pg-2'])];
    const routes = {
      type: 'routes',
      version,
      nonce: `n${version}`,
      services: {
        pg: { endpoints, policy, failover },
        // An HTTP service the reader reaches through a port with role (which only TCP services honour).
        web: { endpoints: [endpoint('pg-1', !plaintext)], policy: resolvePolicy({}) },
      },
    } as Routes;
    for (const ws of streams) ws.send(JSON.stringify(routes));
    const agents = [client, reader, ...Object.values(callees).map((c) => c.agent)];
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
    const readerConfig = validate({
      ...common('reader'),
      service: 'reader',
      controlPlane: { url, reconnectInitialDelayMs: 10, subscribeWaitMs: 100 },
      upstreams: [
        { service: 'pg', port: 0 },
        { service: 'web', port: 0, role: 'primary' },
        { service: 'ghost', port: 0, role: 'replica' },
      ],
      listeners: { outbound: { enabled: false }, admin: { port: 0 } },
    });
    if (!readerConfig.ok) throw new Error(JSON.stringify(readerConfig.issues));
    reader = new Agent(readerConfig.value, log, {
      identity: new StaticWorkloadIdentity(await issueWorkloadCertificate(ca, 'reader', 'reader')),
    });
    readerAddr = await reader.start();
    await waitFor('four agents connected', () => streams.length >= 4);
  }, 60_000);

  afterAll(async () => {
    await client?.stop();
    await reader?.stop();
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

  it('attack: a writer behind a port with no role keeps its connection to the deposed primary across the term change', async () => {
    await push({ term: 6, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-2'] });
    const port = readerAddr.upstreams.pg as number;
    const open: Record<string, Awaited<ReturnType<typeof lineClient>>> = {};
    for (let i = 0; i < 4 && Object.keys(open).length < 2; i++) {
      const c = await lineClient(port);
      const who = await c.ask('who');
      if (open[who] === undefined) open[who] = c;
      else c.socket.destroy();
    }
    expect(Object.keys(open).sort()).toEqual(['pg-1', 'pg-2']);
    const closed = once(open['pg-1']!.socket, 'close');
    await push({ term: 7, holder: 'pg-2', primary: 'pg-2', candidates: [] });
    await closed;
    // The connection to an instance that was not the primary is no writer's: it stays.
    expect(await open['pg-2']!.ask('still here')).toBe('still here');
    open['pg-2']!.socket.destroy();
    // pg-1 came back saying primary, but the table's primary is pg-2: no new connection goes to pg-1.
    await push({ term: 7, holder: 'pg-2', primary: 'pg-2', candidates: [] }, false, { 'pg-1': 'primary' });
    for (let i = 0; i < 4; i++) {
      const c = await lineClient(port);
      expect(await c.ask('who')).toBe('pg-2');
      c.socket.destroy();
    }
  });

  it('attack: a port with role whose service is HTTP (or not in the table) would send to every endpoint: refused, naming the field and the fix', async () => {
    await push({ term: 8, holder: 'pg-1', primary: 'pg-1', candidates: [] });
    for (const [service, is] of [
      ['web', 'not protocol: tcp'],
      ['ghost', 'not in the routing table'],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${readerAddr.upstreams[service]}/`);
      expect(res.status).toBe(503);
      expect(res.headers.get('x-meshlet-error')).toBe('MESHLET_UPSTREAM_ROLE_UNSUPPORTED');
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toContain(`upstreams[] entry for ${service} sets role:`);
      expect(body.error.message).toContain(is);
      expect(body.error.message).toContain('set policy.protocol: tcp');
    }
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
