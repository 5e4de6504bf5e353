import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from './harness/http.js';
import { mintJoinCredential } from './harness/join-credential.js';
import { type AgentHandle, type ControlPlaneHandle, startAgent, startDemoApp, withMesh } from './harness/mesh.js';
import type { Proc } from './harness/process.js';
import { type HelloOutcome, sendRawHello } from './harness/raw-hello.js';
import { waitFor } from './harness/wait.js';

const ADMIN = 'admin-0c4e8b1f9a2d7e65';
const as = { headers: { authorization: `Bearer ${ADMIN}` } };

/** Sends one hello on a fresh stream, as an attacker with a script would. */
async function helloWith(
  url: string,
  token: string | undefined,
  service?: string,
  agentId = `raw-${service ?? 'client'}`,
  clientService?: string,
  localAddress = '127.0.0.1',
): Promise<HelloOutcome> {
  return sendRawHello(
    url,
    {
      agentId,
      ...(token === undefined ? {} : { joinToken: token }),
      ...(service === undefined
        ? {}
        : { instance: { service, id: `raw-${service}`, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} } }),
      ...(clientService === undefined ? {} : { service: clientService }),
    },
    { localAddress },
  );
}

/**
 * An agent that joins over a bare TCP socket, keeps sending heartbeats, and
 * never answers the control plane's close frame (a ws client always would),
 * as a hostile or wedged agent may.
 */
async function silentAgent(port: number, hello: object): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const upgraded = new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve();
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
  });
  socket.write(
    'GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await upgraded;
  // One masked text frame per message (a client's frames must be masked).
  const send = (message: object): void => {
    const payload = Buffer.from(JSON.stringify(message));
    const mask = randomBytes(4);
    const length =
      payload.length < 126
        ? Buffer.from([0x80 | payload.length])
        : Buffer.from([0x80 | 126, payload.length >> 8, payload.length & 0xff]);
    socket.write(
      Buffer.concat([Buffer.from([0x81]), length, mask, payload.map((b, i) => b ^ (mask[i % 4] as number))]),
    );
  };
  send(hello);
  let seq = 0;
  const heartbeats = setInterval(() => send({ type: 'heartbeat', seq: seq++ }), 200);
  socket.on('close', () => clearInterval(heartbeats));
  socket.on('error', () => undefined);
  socket.resume(); // reads whatever comes, answers no close frame
  return socket;
}

describe('per-service join credentials', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  const procs: Proc[] = [];
  const secrets: string[] = [];

  async function mint(service: string, ttl?: string): Promise<{ id: string; credential: string }> {
    const r = await httpRequest(cp.port, '/v1/join-credentials', {
      ...as,
      method: 'POST',
      headers: { ...as.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ service, ...(ttl ? { ttl } : {}) }),
    });
    expect(r.status).toBe(201);
    const body = r.json();
    secrets.push(body.credential.split('_').slice(2).join('_'), body.credential);
    return body;
  }
  const refusals = async (reason: string): Promise<number> => {
    const text = (await httpRequest(cp.port, '/metrics', as)).body;
    const m = new RegExp(`^meshlet_cp_join_refusals_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const agentsView = async (): Promise<any[]> => (await httpRequest(cp.port, '/v1/agents', as)).json().agents;

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: { adminToken: ADMIN } });
    procs.push(cp.proc);
  });

  it('a hello without a credential is refused, before any credential exists and after', async () => {
    for (const service of ['hello', undefined]) {
      const refused = await helloWith(cp.streamUrl, undefined, service);
      expect(refused).toMatchObject({ admitted: false, code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
      expect(refused.admitted === false && refused.reason).toContain('join credential required');
    }
    await mint('hello');
    expect(await helloWith(cp.streamUrl, undefined, 'hello')).toMatchObject({ admitted: false, code: 4003 });
    expect(await helloWith(cp.streamUrl, 'some-guessed-token-value', 'hello')).toMatchObject({ code: 4003 });
    expect(await refusals('missing')).toBeGreaterThanOrEqual(3);
    expect(await agentsView()).toEqual([]);
  });

  it("a client-only agent is bound to its credential's service", async () => {
    const webCred = await mint('web');
    const raw = await helloWith(cp.streamUrl, webCred.credential, undefined, 'raw-web', 'orders');
    expect(raw).toMatchObject({ admitted: false, code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
    expect(raw.admitted === false && raw.reason).toBe('a credential for web cannot act for orders');
    const unnamed = await helloWith(cp.streamUrl, webCred.credential, undefined, 'raw-web');
    expect(unnamed.admitted === false && unnamed.reason).toContain('set service: web in the agent config');
    expect(await refusals('no_service')).toBe(1);
    // A real client-only agent whose config names another service than its credential's is refused too.
    const wrong = await startAgent(scratch, {
      agentId: 'web-wrong',
      cp,
      outbound: true,
      service: 'orders',
      joinToken: webCred.credential,
      waitReady: false,
    });
    procs.push(wrong.proc);
    await waitFor('the misnamed client to log its refusal', async () =>
      wrong.proc.output.includes('a credential for web cannot act for orders'),
    );
    await wrong.proc.stop('SIGTERM', 5000);
    expect(await helloWith(cp.streamUrl, webCred.credential, undefined, 'raw-web', 'web')).toEqual({ admitted: true });
  });

  it("a credential for orders claiming hello is refused and no caller's traffic moves", async () => {
    const helloCred = await mint('hello');
    const ordersCred = await mint('orders');
    const clientCred = await mint('web');
    const app = await startDemoApp('hello', 'hello-1');
    const real = await startAgent(scratch, {
      agentId: 'hello-1',
      cp,
      instance: { service: 'hello', app },
      joinToken: helloCred.credential,
    });
    const caller = await startAgent(scratch, {
      agentId: 'caller',
      cp,
      outbound: true,
      calls: ['hello'],
      service: 'web',
      joinToken: clientCred.credential,
    });
    procs.push(real.proc, caller.proc);

    const raw = await helloWith(cp.streamUrl, ordersCred.credential, 'hello');
    expect(raw).toMatchObject({ admitted: false, code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
    expect(raw.admitted === false && raw.reason).toBe('a credential for orders cannot register hello');

    // A real agent with the orders credential fronting a rogue "hello" app.
    const rogueApp = await startDemoApp('hello', 'rogue-1');
    const before = await refusals('wrong_service');
    const rogue: AgentHandle = await startAgent(scratch, {
      agentId: 'rogue-1',
      cp,
      instance: { service: 'hello', app: rogueApp },
      joinToken: ordersCred.credential,
      waitReady: false,
    });
    procs.push(rogue.proc);
    await waitFor('the rogue agent to be refused', async () => (await refusals('wrong_service')) > before);
    await waitFor('the rogue agent to log the refusal', async () =>
      rogue.proc.output.includes('a credential for orders cannot register hello'),
    );
    expect((await agentsView()).map((a) => a.agentId)).not.toContain('rogue-1');
    for (let i = 0; i < 20; i++) {
      const r = await httpRequest(caller.outboundPort as number, 'http://hello/');
      expect(r.status).toBe(200);
      expect(r.headers['x-instance']).toBe('hello-1');
    }
    // Refused agents retry with backoff: stop this one, so that its refusals do not count in the tests after it.
    await rogue.proc.stop('SIGTERM', 5000);
  });

  it('a revoked credential is refused and its live agent is sent away', async () => {
    const cred = await mint('users');
    const app = await startDemoApp('users', 'users-1');
    const agent = await startAgent(scratch, {
      agentId: 'users-1',
      cp,
      instance: { service: 'users', app },
      joinToken: cred.credential,
    });
    procs.push(agent.proc);
    expect((await agentsView()).find((a) => a.agentId === 'users-1')?.connected).toBe(true);
    const del = await httpRequest(cp.port, `/v1/join-credentials/${cred.id}`, { ...as, method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(del.json()).toMatchObject({ id: cred.id, service: 'users', state: 'revoked' });
    await waitFor('users-1 to be sent away', async () => {
      const a = (await agentsView()).find((x) => x.agentId === 'users-1');
      return a?.connected === false;
    });
    await waitFor('users-1 to learn why', async () =>
      agent.proc.output.includes(`join credential ${cred.id} was revoked`),
    );
    const raw = await helloWith(cp.streamUrl, cred.credential, 'users');
    expect(raw).toMatchObject({ admitted: false, code: 4003 });
    expect(raw.admitted === false && raw.reason).toContain('was revoked');
    // It stays away: its reconnects are refused too.
    expect((await agentsView()).find((x) => x.agentId === 'users-1')?.connected).toBe(false);
  });

  it('a revoked agent that never answers the close frame is out of the table at once', async () => {
    const cred = await mint('billing');
    const agentId = 'billing-silent';
    const socket = await silentAgent(cp.port, {
      type: 'hello',
      protocolVersion: 1,
      agentId,
      tableVersion: 0,
      joinToken: cred.credential,
      instance: { service: 'billing', id: 'billing-1', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} },
    });
    const ended = once(socket, 'close');
    await waitFor('the silent agent to be registered', async () =>
      (await agentsView()).find((a) => a.agentId === agentId && a.connected),
    );
    const del = await httpRequest(cp.port, `/v1/join-credentials/${cred.id}`, { ...as, method: 'DELETE' });
    expect(del.status).toBe(200);
    // ws waits 30 s for a peer's close frame; this agent sends none: it must not stay routable meanwhile
    // (the deadline is below the heartbeat timeout, 1.2 s, which would end the stream anyway).
    await waitFor(
      'the silent agent to be out of the table',
      async () => (await httpRequest(cp.port, '/v1/instances/billing-1', as)).json().state === 'disconnected',
      { timeoutMs: 800 },
    );
    const view = (await agentsView()).find((a) => a.agentId === agentId);
    expect(view).toMatchObject({ connected: false });
    await waitFor('the control plane to drop the socket', async () => ended.then(() => true), { timeoutMs: 3000 });
    socket.destroy();
  });

  it('a credential for reports cannot take over the agent id of an orders agent', async () => {
    const ordersCred = await mint('orders');
    const reportsCred = await mint('reports');
    const clientCred = await mint('web');
    const app = await startDemoApp('orders', 'orders-1');
    const real = await startAgent(scratch, {
      agentId: 'orders-agent-1',
      cp,
      instance: { service: 'orders', app },
      joinToken: ordersCred.credential,
    });
    const caller = await startAgent(scratch, {
      agentId: 'orders-caller',
      cp,
      outbound: true,
      calls: ['orders'],
      service: 'web',
      joinToken: clientCred.credential,
    });
    procs.push(real.proc, caller.proc);
    const before = (await agentsView()).find((a) => a.agentId === 'orders-agent-1');
    expect(before).toMatchObject({ connected: true });
    const refusedBefore = await refusals('wrong_service');

    // The attack: another service's credential (as a service, or client-only) claims the orders agent's id, again and again.
    for (const [token, service, clientService] of [
      [reportsCred.credential, 'reports', undefined],
      [reportsCred.credential, undefined, 'reports'],
      [clientCred.credential, undefined, 'web'],
      [reportsCred.credential, 'reports', undefined],
    ] as const) {
      const raw = await helloWith(cp.streamUrl, token, service, 'orders-agent-1', clientService);
      expect(raw).toMatchObject({ admitted: false, code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
      expect(raw.admitted === false && raw.reason).toContain('cannot take over agent orders-agent-1 of orders');
    }
    expect(await refusals('wrong_service')).toBe(refusedBefore + 4);

    // The orders agent kept its stream (never replaced, never reconnected) and orders-1 kept its traffic.
    const after = (await agentsView()).find((a) => a.agentId === 'orders-agent-1');
    expect(after).toMatchObject({ connected: true, connectedAt: before.connectedAt });
    expect(real.proc.output).not.toContain('control-plane stream closed');
    for (let i = 0; i < 10; i++) {
      const r = await httpRequest(caller.outboundPort as number, 'http://orders/');
      expect(r.status).toBe(200);
      expect(r.headers['x-instance']).toBe('orders-1');
    }
    // The orders credential itself still reconnects its own agent id.
    const own = await helloWith(cp.streamUrl, ordersCred.credential, 'orders', 'orders-agent-1');
    expect(own).toEqual({ admitted: true });
  });

  it('an expired credential is refused', async () => {
    const cred = await mint('hello', '1s');
    await waitFor('the credential to expire', async () => {
      const items = (await httpRequest(cp.port, '/v1/join-credentials', as)).json().items as any[];
      return items.find((c) => c.id === cred.id)?.state === 'expired';
    });
    // From an address of its own: the wrong credentials this file sends from 127.0.0.1 have it throttled by now
    // (4029, security.md "Before the hello").
    const raw = await helloWith(cp.streamUrl, cred.credential, 'hello', undefined, undefined, '127.0.0.2');
    expect(raw).toMatchObject({ admitted: false, code: 4003, error: { code: 'MESHLET_JOIN_TOKEN_INVALID' } });
    expect(raw.admitted === false && raw.reason).toContain('has expired');
    expect(await refusals('expired')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a bad mint request, naming the field and the fix', async () => {
    const post = async (body: unknown, token = ADMIN) =>
      httpRequest(cp.port, '/v1/join-credentials', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const [body, field] of [
      [{ service: 'orders', ttl: '0h' }, 'ttl'],
      [{ service: 'orders', ttl: '9000h' }, 'ttl'],
      [{ service: 'orders', ttl: '1.5h' }, 'ttl'],
      [{ service: 'Not A Name' }, 'service'],
      [{ service: 'orders', secret: 'mine' }, 'secret'],
    ] as const) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json().error).toMatchObject({ code: 'MESHLET_API_INVALID', field });
    }
    const unknown = await httpRequest(cp.port, '/v1/join-credentials/0123456789abcdef', { ...as, method: 'DELETE' });
    expect(unknown.status).toBe(404);
    expect((await post({ service: 'orders' }, 'not-the-admin-token-at-all')).status).toBe(401);
  });

  it('the harness never starts an agent before a lagging replica lists its credential', async () => {
    // A replica that learns credentials late (as through etcd): its first three lists are empty.
    let lists = 0;
    const lagging = createServer((req, res) => {
      lists += 1;
      if (lists <= 3) return res.writeHead(200, { 'content-type': 'application/json' }).end('{"items":[]}');
      void httpRequest(cp.port, req.url ?? '/', as).then((a) => res.writeHead(a.status).end(a.body));
    });
    lagging.listen(0, '127.0.0.1');
    await once(lagging, 'listening');
    try {
      const port = (lagging.address() as AddressInfo).port;
      const replica: ControlPlaneHandle = { ...cp, port, url: `http://127.0.0.1:${port}` };
      const credential = await mintJoinCredential(cp, 'lagging', [cp, replica]);
      const id = credential.split('_')[1];
      const listed = (await httpRequest(port, '/v1/join-credentials', as)).json().items.map((c: any) => c.id);
      expect(listed).toContain(id);
    } finally {
      lagging.close();
    }
  });

  it('lists credentials without their secrets, and never writes a secret to a log', async () => {
    const list = await httpRequest(cp.port, '/v1/join-credentials', as);
    expect(list.status).toBe(200);
    expect(list.json().items.length).toBeGreaterThanOrEqual(5);
    for (const s of secrets) expect(list.body).not.toContain(s);
    for (const p of procs) {
      expect(p.output.length).toBeGreaterThan(0);
      for (const s of secrets) expect(p.output, p.name).not.toContain(s);
    }
  });
});
