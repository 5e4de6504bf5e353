import { once } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson, httpRequest } from './harness/http.js';
import { type ControlPlaneHandle, startAgent, startDemoApp, withMesh } from './harness/mesh.js';
import type { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

const TOKEN = 'join-7f3a9c2e51d04b8e';
const ADMIN = 'admin-0c4e8b1f9a2d7e65';

async function helloWith(
  url: string,
  token: string | undefined,
  over: Record<string, unknown> = {},
): Promise<{ error: any; code: number; reason: string }> {
  const ws = new WebSocket(url);
  const messages: any[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await once(ws, 'open');
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocolVersion: 1,
      agentId: 'intruder',
      tableVersion: 0,
      ...(token ? { joinToken: token } : {}),
      ...over,
    }),
  );
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { error: messages.find((m) => m.type === 'error'), code, reason: reason.toString() };
}

describe('join token and admin token', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  const procs: Proc[] = [];

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: { joinToken: TOKEN, allowSharedJoinToken: true, adminToken: ADMIN } });
    procs.push(cp.proc);
  });

  it('refuses an agent without the token, or with a wrong one, with a reason', async () => {
    const none = await helloWith(cp.streamUrl, undefined);
    expect(none.code).toBe(4003);
    expect(none.error).toMatchObject({ code: 'MESHLET_JOIN_TOKEN_INVALID' });
    expect(none.reason).toContain('controlPlane.joinToken');
    const wrong = await helloWith(cp.streamUrl, 'not-the-token-at-all');
    expect(wrong.code).toBe(4003);
    expect(wrong.reason).toContain('rejected');
  });

  it('accepts an agent with the token; admin reads need the admin token', async () => {
    const app = await startDemoApp('hello', 'hello-1');
    const agent = await startAgent(scratch, {
      agentId: 'hello-1',
      cp,
      instance: { service: 'hello', app },
      joinToken: TOKEN,
    });
    procs.push(agent.proc);
    const unauth = await httpRequest(cp.port, '/v1/services');
    expect(unauth.status).toBe(401);
    expect(unauth.json().error.code).toBe('MESHLET_UNAUTHORIZED');
    await waitFor('hello-1 registered', async () => {
      const a = await httpRequest(cp.port, '/v1/services', { headers: { authorization: `Bearer ${ADMIN}` } });
      return a.status === 200 && a.json().services[0]?.healthy === 1;
    });
    expect((await getJson(cp.port, '/healthz')).status).toBe('ok');
  });

  it("the shared token cannot take over a credential's agent id, nor a client-only hello a live instance's", async () => {
    const minted = await httpRequest(cp.port, '/v1/join-credentials', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'hello' }),
    });
    expect(minted.status).toBe(201);
    const credential = minted.json().credential as string;
    const app = await startDemoApp('hello', 'hello-2');
    const agent = await startAgent(scratch, {
      agentId: 'hello-2',
      cp,
      instance: { service: 'hello', app },
      joinToken: credential,
    });
    procs.push(agent.proc);
    const agents = async (): Promise<any[]> =>
      (await httpRequest(cp.port, '/v1/agents', { headers: { authorization: `Bearer ${ADMIN}` } })).json().agents;
    const hello2 = async () => (await agents()).find((a) => a.agentId === 'hello-2');
    await waitFor('hello-2 connected', async () => (await hello2())?.connected === true);
    const { connectedAt } = await hello2();
    const instance = { service: 'hello', id: 'hello-2', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };
    const shared = await helloWith(cp.streamUrl, TOKEN, { agentId: 'hello-2', instance });
    expect(shared).toMatchObject({ code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
    expect(shared.reason).toBe(
      'the shared join token cannot take over agent hello-2, admitted with a credential for hello: use a credential for hello',
    );
    const clientOnly = await helloWith(cp.streamUrl, credential, { agentId: 'hello-2', service: 'hello' });
    expect(clientOnly).toMatchObject({ code: 4003 });
    expect(clientOnly.reason).toContain('is connected and fronts an instance');
    const metrics = (await httpRequest(cp.port, '/metrics', { headers: { authorization: `Bearer ${ADMIN}` } })).body;
    expect(metrics).toMatch(/^meshlet_cp_join_refusals_total\{reason="wrong_service"\} 1$/m);
    expect(metrics).toMatch(/^meshlet_cp_join_refusals_total\{reason="instance_held"\} 1$/m);
    await waitFor(
      `the log line ${'refused agent hello: the shared join token cannot take over agent hello-2'}`,
      async () => cp.proc.output.includes('refused agent hello: the shared join token cannot take over agent hello-2'),
    );
    // hello-2 kept its stream and its instance.
    expect(await hello2()).toMatchObject({ connected: true, connectedAt, instance: { id: 'hello-2' } });
    expect(agent.proc.output).not.toContain('replaced');
  });

  it('never writes a token to a log', () => {
    for (const p of procs) {
      expect(p.output.length).toBeGreaterThan(0);
      expect(p.output).not.toContain(TOKEN);
      expect(p.output).not.toContain(ADMIN);
    }
  });
});
