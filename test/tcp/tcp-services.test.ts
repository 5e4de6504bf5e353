import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from '../harness/admin-api.js';
import { getJson, httpRequest } from '../harness/http.js';
import { type AgentHandle, type ControlPlaneHandle, endpointIds, agentTable, withMesh } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';
import { type EchoApp, echoApp, lineClient, rawExchange } from './tcp-apps.js';

// TCP services end to end: real agents and control plane, echo apps on
// loopback, connections through the client's dedicated upstream port.
// Agents hold workload certificates from the control plane, so the hop
// between agents is mutual TLS with ALPN meshlet-tcp/1.

const MAGIC = 'MESHLET-TCP/1\n';
const preamble = (service: string) => `${JSON.stringify({ v: 1, service })}\n`;

async function metric(agent: AgentHandle, name: string, labels: Record<string, string>): Promise<number> {
  const text = (await httpRequest(agent.adminPort, '/metrics')).body;
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

describe('TCP services through a dedicated upstream port', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  const apps: Record<string, EchoApp> = {};
  const agents: Record<string, AgentHandle> = {};
  let port: number;

  beforeAll(async () => {
    cp = await mesh.controlPlane({
      auth: { adminToken: ADMIN },
      services: { echo: { protocol: 'tcp', balancer: { kind: 'round_robin' } } },
    });
    for (const id of ['echo-1', 'echo-2']) {
      apps[id] = await echoApp(id);
      agents[id] = await mesh.agent({ agentId: id, cp, instance: { service: 'echo', app: apps[id] as EchoApp } });
    }
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, upstreams: { echo: 'free' } });
    await waitFor(
      'the client to see both echo instances',
      async () => (await endpointIds(client, 'echo')).join() === 'echo-1,echo-2',
    );
    port = client.upstreamPorts.echo as number;
  }, 60_000);

  afterAll(async () => {
    for (const app of Object.values(apps)) await app.close().catch(() => undefined);
  });

  it('balances connections across both instances over mTLS, relays bytes both ways, and counts and logs each connection', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await lineClient(port);
      seen.push(await c.ask('who'));
      expect(await c.ask(`hello ${i}`)).toBe(`hello ${i}`);
      c.socket.end();
    }
    expect(new Set(seen)).toEqual(new Set(['echo-1', 'echo-2']));
    await waitFor(
      'the client to count 4 relayed connections',
      async () =>
        (await metric(client, 'meshlet_agent_tcp_closes_total', { direction: 'outbound', service: 'echo' })) >= 4,
    );
    expect(await metric(client, 'meshlet_agent_tcp_connections_total', { result: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(await metric(client, 'meshlet_agent_tcp_sent_bytes_total', { direction: 'outbound' })).toBeGreaterThan(0);
    expect(await metric(client, 'meshlet_agent_tcp_received_bytes_total', { direction: 'outbound' })).toBeGreaterThan(
      0,
    );
    const lint = spawnSync('promtool', ['check', 'metrics'], {
      input: (await httpRequest(client.adminPort, '/metrics')).body,
      encoding: 'utf8',
    });
    expect(`${lint.stdout}${lint.stderr}`).not.toContain('meshlet_agent_tcp');
    // The callee saw the caller over mTLS with ALPN meshlet-tcp/1 (no plaintext inbound connection).
    const inboundOk = async (a: AgentHandle) =>
      metric(a, 'meshlet_agent_tcp_connections_total', { direction: 'inbound', result: 'ok' });
    expect(
      (await inboundOk(agents['echo-1'] as AgentHandle)) + (await inboundOk(agents['echo-2'] as AgentHandle)),
    ).toBe(4);
    expect(
      await metric(agents['echo-1'] as AgentHandle, 'meshlet_agent_mtls_handshakes_total', { result: 'ok' }),
    ).toBeGreaterThan(0);
    // One access log line per connection, with bytes, duration, endpoint and close reason; never the payload.
    await waitFor(
      'the access log lines',
      () => client.proc.output.split('\n').filter((l) => l.includes('"outbound tcp connection"')).length >= 4,
    );
    const line = JSON.parse(
      client.proc.output.split('\n').find((l) => l.includes('"outbound tcp connection"')) as string,
    ) as Record<string, unknown>;
    expect(line).toMatchObject({ component: 'access', service: 'echo', result: 'ok', reason: 'client-closed' });
    expect(line.endpoint).toMatch(/^echo-[12]$/);
    expect(line.sent).toBeGreaterThan(0);
    expect(typeof line.durationMs).toBe('number');
    expect(client.proc.output).not.toContain('hello 0');
    const callee = (agents['echo-1'] as AgentHandle).proc.output;
    expect(callee).toMatch(/"caller":"spiffe:\/\/[^"]+\/svc\/client"/);
  });

  it('attack: a caller without a mesh certificate opening the TCP path on a strict service is refused', async () => {
    const inbound = (agents['echo-1'] as AgentHandle).inboundPort as number;
    const r = await rawExchange(inbound, MAGIC + preamble('echo'));
    expect(r.answer).toMatch(/^ERR MESHLET_MTLS_REQUIRED /);
    expect(r.closed).toBe(true);
    expect(apps['echo-1']?.connections).toBeLessThanOrEqual(4);
  });

  it("attack: a caller whose service the callee's authorization policy denies gets no connection", async () => {
    const deny = await api(cp, 'PUT', '/v1/authz/echo', {
      policy: { rules: [{ name: 'no-client', action: 'deny', from: ['client'] }] },
    });
    expect(deny.status).toBe(200);
    for (const a of Object.values(agents))
      await waitFor(
        'the callee to hold the policy',
        async () => (await getJson(a.adminPort, '/config')).table?.services.echo?.authz !== undefined,
      );
    const before = (apps['echo-1'] as EchoApp).connections + (apps['echo-2'] as EchoApp).connections;
    const c = await lineClient(port);
    expect(await c.ask('who')).toBe('closed');
    expect((apps['echo-1'] as EchoApp).connections + (apps['echo-2'] as EchoApp).connections).toBe(before);
    const denied = async (a: AgentHandle) =>
      metric(a, 'meshlet_agent_tcp_connections_total', { direction: 'inbound', result: 'authz_denied' });
    expect(
      (await denied(agents['echo-1'] as AgentHandle)) + (await denied(agents['echo-2'] as AgentHandle)),
    ).toBeGreaterThan(0);
    expect(await metric(client, 'meshlet_agent_tcp_connections_total', { result: 'refused' })).toBeGreaterThan(0);
    const drop = await api(cp, 'DELETE', '/v1/authz/echo');
    expect(drop.status).toBeLessThan(300);
    for (const a of Object.values(agents))
      await waitFor(
        'the callee to drop the policy',
        async () => (await getJson(a.adminPort, '/config')).table?.services.echo?.authz === undefined,
      );
  });

  it('attack: a caller the policy denies hammering a TCP service: its instances stay healthy and an authorized caller still connects', async () => {
    const deny = await api(cp, 'PUT', '/v1/authz/echo', {
      policy: { rules: [{ name: 'no-client', action: 'deny', from: ['client'] }] },
    });
    expect(deny.status).toBe(200);
    for (const a of Object.values(agents))
      await waitFor(
        'the callee to hold the policy',
        async () => (await getJson(a.adminPort, '/config')).table?.services.echo?.authz !== undefined,
      );
    for (let i = 0; i < 20; i++) expect(await (await lineClient(port)).ask('who')).toBe('closed');
    // Before the fix each refusal was an endpoint failure: the client's outlier detection ejected both instances
    // and its reports made the control plane mark them unhealthy (a lone caller is its own quorum).
    expect(await metric(client, 'meshlet_agent_ejections_total', { service: 'echo' })).toBe(0);
    const writer = await mesh.agent({
      agentId: 'writer',
      service: 'writer',
      cp,
      outbound: true,
      upstreams: { echo: 'free' },
    });
    await waitFor(
      'the writer to see both echo instances',
      async () => (await endpointIds(writer, 'echo')).length === 2,
    );
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const c = await lineClient(writer.upstreamPorts.echo as number);
      seen.add(await c.ask('who'));
      c.socket.end();
    }
    expect([...seen].sort()).toEqual(['echo-1', 'echo-2']);
    // The control plane has the writer's reports (sent after the client's), and both instances are healthy.
    for (const id of ['echo-1', 'echo-2'])
      await waitFor(`the control plane to hold the writer's reports on ${id}`, async () =>
        ((await api(cp, 'GET', `/v1/instances/${id}`)).body.callers as string[]).some((c) => c.includes('writer')),
      );
    for (const id of ['echo-1', 'echo-2'])
      expect((await api(cp, 'GET', `/v1/instances/${id}`)).body.state).toBe('healthy');
    await api(cp, 'DELETE', '/v1/authz/echo');
    for (const a of Object.values(agents))
      await waitFor(
        'the callee to drop the policy',
        async () => (await getJson(a.adminPort, '/config')).table?.services.echo?.authz === undefined,
      );
  });

  describe('in permissive mode (plaintext callers)', () => {
    beforeAll(async () => {
      const r = await api(cp, 'PUT', '/v1/policies/echo', {
        policy: { protocol: 'tcp', balancer: { kind: 'round_robin' }, mtls: { mode: 'permissive' } },
      });
      expect(r.status).toBe(200);
      for (const a of Object.values(agents))
        await waitFor(
          'the callee to be permissive',
          async () =>
            (await agentTable(a))?.services.echo &&
            (await getJson(a.adminPort, '/config')).table.services.echo.policy.mtls?.mode === 'permissive',
        );
    });

    it('relays a plaintext caller that opens with the magic line and a valid preamble', async () => {
      const inbound = (agents['echo-2'] as AgentHandle).inboundPort as number;
      const socket = connect({ host: '127.0.0.1', port: inbound });
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString('utf8')));
      socket.write(`${MAGIC}${preamble('echo')}who\n`);
      await waitFor('OK and the answer', () => got === 'OK\necho-2\n');
      socket.destroy();
    });

    it('attack: a preamble naming another service is refused', async () => {
      const r = await rawExchange((agents['echo-1'] as AgentHandle).inboundPort as number, MAGIC + preamble('billing'));
      expect(r.answer).toMatch(/^ERR MESHLET_TCP_WRONG_SERVICE /);
      expect(r.closed).toBe(true);
    });

    it('attack: an oversized preamble is refused and closed', async () => {
      const r = await rawExchange((agents['echo-1'] as AgentHandle).inboundPort as number, MAGIC + 'x'.repeat(4096));
      expect(r.answer).toMatch(/^ERR MESHLET_TCP_PREAMBLE_INVALID .*longer than 1024/);
      expect(r.closed).toBe(true);
    });

    it('attack: a never-ending preamble (slowloris) is closed at its deadline', async () => {
      const socket = connect({ host: '127.0.0.1', port: (agents['echo-1'] as AgentHandle).inboundPort as number });
      socket.on('error', () => undefined);
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString('utf8')));
      let closed = false;
      socket.once('close', () => (closed = true));
      socket.write(`${MAGIC}{"v":1,`);
      // A byte every 100 ms, at most 100 of them: the agent must close first.
      for (let i = 0; i < 100 && !closed; i++) {
        socket.write(' ');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(closed).toBe(true);
      expect(answer).toMatch(/^ERR MESHLET_TCP_PREAMBLE_INVALID .*within 5000 ms/);
    });
  });

  it('retries a connection on the other instance when one app is down, before any byte was relayed', async () => {
    await (apps['echo-2'] as EchoApp).close();
    for (let i = 0; i < 4; i++) {
      const c = await lineClient(port);
      expect(await c.ask('who')).toBe('echo-1');
      c.socket.end();
    }
    expect(
      await metric(client, 'meshlet_agent_tcp_connect_failures_total', {
        code: 'MESHLET_APP_UNREACHABLE',
      }),
    ).toBeGreaterThan(0);
  });
});
