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

  it('never writes a token to a log', () => {
    for (const p of procs) {
      expect(p.output.length).toBeGreaterThan(0);
      expect(p.output).not.toContain(TOKEN);
      expect(p.output).not.toContain(ADMIN);
    }
  });
});
