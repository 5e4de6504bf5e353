import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentHandle, agentTable, type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The admin API through a real control plane with real agents: every route,
// bad bodies, optimistic concurrency, persistence across a restart, and
// backup, wipe, restore.

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';

interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

async function api(
  cp: ControlPlaneHandle,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${cp.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (HTML, metrics)
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Sends a PUT whose headers declare `length` bytes of JSON but only a few of them, and returns the raw answer. */
function declaredTooLarge(port: number, path: string, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('connect', () => {
      socket.write(
        `PUT ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ADMIN}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n{"policy":{},"pad":"xxxx`,
      );
    });
    socket.on('data', (d) => {
      answer += d.toString('utf8');
      if (answer.includes('\r\n\r\n') && answer.includes('}')) socket.end();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', (e) => (answer ? resolve(answer) : reject(e)));
  });
}

describe('admin API', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let extra: Record<string, unknown>;
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  // A webhook receiver on loopback: what the control plane posts, by path.
  const hooked: Array<{ path: string; body: any }> = [];
  let receiver: Server;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        hooked.push({ path: req.url ?? '', body: JSON.parse(text) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    extra = {
      auth: { adminToken: ADMIN, readOnlyToken: READER },
      failover: { failbackHoldMs: 60_000 },
      webhooks: [
        { url: `${hook}/json`, kinds: ['drain'] },
        { url: `${hook}/slack`, format: 'slack', kinds: ['failover'] },
      ],
    };
    ({ cp, client } = await mesh.start({
      controlPlane: extra,
      instances: {
        db: [
          { id: 'db-1', tier: 0 },
          { id: 'db-2', tier: 1 },
        ],
      },
      client: { calls: ['db'] },
    }));
    await waitFor(
      'both db instances healthy',
      async () => (await api(cp, 'GET', '/v1/services/db')).body.healthy === 2,
    );
  });
  afterAll(() => {
    receiver.close();
  });

  it('serves reads: services, instances, agents, events, rings, failover, convergence, metrics, health', async () => {
    const services = await api(cp, 'GET', '/v1/services');
    expect(services.status).toBe(200);
    expect(services.body.services.map((s: { name: string }) => s.name)).toEqual(['db']);
    const db = await api(cp, 'GET', '/v1/services/db');
    expect(db.body).toMatchObject({
      name: 'db',
      healthy: 2,
      total: 2,
      activeTier: 0,
      policy: { balancer: { kind: 'round_robin' } },
    });
    expect((await api(cp, 'GET', '/v1/services/nope')).body.error).toMatchObject({ code: 'MESHLET_NOT_FOUND' });
    expect((await api(cp, 'GET', '/v1/services/Not_A_Name')).body.error).toMatchObject({
      code: 'MESHLET_API_INVALID',
      field: 'name',
    });

    const instances = await api(cp, 'GET', '/v1/instances');
    expect(
      instances.body.items.map((i: { id: string; service: string; state: string }) => [i.id, i.service, i.state]),
    ).toEqual([
      ['db-1', 'db', 'healthy'],
      ['db-2', 'db', 'healthy'],
    ]);
    expect((await api(cp, 'GET', '/v1/instances/db-1')).body).toMatchObject({ id: 'db-1', tier: 0, state: 'healthy' });
    expect((await api(cp, 'GET', '/v1/instances/db-9')).status).toBe(404);

    const agents = await api(cp, 'GET', '/v1/agents');
    expect(agents.body.agents.map((a: { agentId: string }) => a.agentId)).toEqual(['client', 'db-1', 'db-2']);
    expect((await api(cp, 'GET', '/v1/agents/client')).body).toMatchObject({
      agentId: 'client',
      connected: true,
      subscriptions: ['db'],
      inSync: true,
    });
    expect((await api(cp, 'GET', '/v1/agents/ghost')).status).toBe(404);

    expect((await api(cp, 'GET', '/v1/events?service=db&kind=health')).body.events.length).toBeGreaterThanOrEqual(2);
    expect((await api(cp, 'GET', '/v1/events?kind=nope')).body.error).toMatchObject({ code: 'MESHLET_API_INVALID' });
    expect((await api(cp, 'GET', '/v1/rings')).body).toEqual({ rings: [] });
    expect((await api(cp, 'GET', '/v1/failover')).body.services[0]).toMatchObject({ service: 'db', activeTier: 0 });
    expect((await api(cp, 'GET', '/v1/convergence')).status).toBe(200);
    expect((await api(cp, 'GET', '/metrics')).body).toContain('meshlet_cp_convergence_seconds');
    expect((await api(cp, 'GET', '/healthz', undefined, null)).status).toBe(200);
  });

  it('changes the log level at runtime, and exports health gauges', async () => {
    expect((await api(cp, 'GET', '/v1/log-level', undefined, READER)).body).toEqual({ level: 'info' });
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'debug' }, READER)).status).toBe(403);
    const bad = await api(cp, 'PUT', '/v1/log-level', { level: 'loud' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('level');
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'debug' })).body).toEqual({ level: 'debug' });
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'info' })).body).toEqual({ level: 'info' });
    const metrics = (await api(cp, 'GET', '/metrics', undefined, READER)).body as string;
    expect(metrics).toContain('meshlet_cp_instance_healthy{service="db",instance="db-1"} 1');
    expect(metrics).toContain('meshlet_cp_service_healthy_endpoints{service="db"} 2');
    expect(metrics).toContain('meshlet_cp_service_endpoints{service="db"} 2');
  });

  it('serves the OpenAPI document and a browsable page generated from the route schemas', async () => {
    // The API's description holds no data: it needs no token, so a browser can open the page.
    const doc = await api(cp, 'GET', '/docs/json', undefined, null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/policies/{name}',
      '/v1/instances/{id}/drain',
      '/v1/services/{name}/failover',
      '/v1/snapshots/restore',
      '/v1/events/stream',
    ]) {
      expect(Object.keys(doc.body.paths)).toContain(path);
    }
    expect(doc.body.paths['/v1/policies/{name}'].put.requestBody.content['application/json'].schema.required).toEqual([
      'policy',
    ]);
    const page = await api(cp, 'GET', '/docs', undefined, null);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('<html');
  });

  it('refuses requests without the right token: 401 without or with a wrong one, 403 for the read-only token writing', async () => {
    expect((await api(cp, 'GET', '/v1/services', undefined, null)).status).toBe(401);
    const wrong = await api(cp, 'GET', '/v1/services', undefined, 'x'.repeat(30));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('MESHLET_UNAUTHORIZED');
    expect((await api(cp, 'GET', '/v1/services', undefined, READER)).status).toBe(200);
    const write = await api(cp, 'PUT', '/v1/policies/db', { policy: {} }, READER);
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('MESHLET_FORBIDDEN');
  });

  it('validates policy writes: missing field, wrong type, unknown field, out of range, oversized', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'policy'],
      [{ policy: { retries: { maxRetries: 'two' } } }, 'policy.retries.maxRetries'],
      [{ policy: { balancer: { kind: 'round_robin' } }, colour: 'blue' }, 'colour'],
      [{ policy: { retries: { maxRetries: 1000 } } }, 'policy.retries.maxRetries'],
      [{ policy: { balancer: { kind: 'fastest' } } }, 'policy.balancer.kind'],
    ];
    for (const [body, field] of cases) {
      const r = await api(cp, 'PUT', '/v1/policies/db', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('MESHLET_API_INVALID');
      expect(r.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    const notJson = await api(cp, 'PUT', '/v1/policies/db', '{"policy":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('MESHLET_API_INVALID');
    // The control plane answers from the declared length, before the body: the
    // request declares 2 MiB and sends a little of it (a client writing the
    // whole body could meet the closed connection, EPIPE, before reading the answer).
    const big = await declaredTooLarge(cp.port, '/v1/policies/db', 2 * 1024 * 1024);
    expect(big).toMatch(/^HTTP\/1\.1 413 /);
    expect(big).toContain('MESHLET_API_TOO_LARGE');
    // Nothing was written.
    expect((await api(cp, 'GET', '/v1/policies/db')).body).toMatchObject({ source: 'default', resourceVersion: null });
  });

  it('writes policies with optimistic concurrency and pushes them to the callers', async () => {
    const created = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'least_request' } },
      resourceVersion: '0',
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      service: 'db',
      source: 'api',
      policy: { balancer: { kind: 'least_request' }, retries: { maxRetries: 2 } },
    });
    const rv = created.body.resourceVersion as string;
    await waitFor(
      'the client to get the new policy',
      async () =>
        (await agentTable(client))?.services.db &&
        ((await agentTable(client)) as any).services.db.policy.balancer.kind === 'least_request',
    );

    const stale = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'random' } },
      resourceVersion: '0',
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('MESHLET_CONFLICT');
    const updated = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'peak_ewma' } },
      resourceVersion: rv,
    });
    expect(updated.status).toBe(200);
    expect(Number(updated.body.resourceVersion)).toBeGreaterThan(Number(rv));
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([updated.body]);

    expect((await api(cp, 'DELETE', `/v1/policies/db?resourceVersion=${rv}`)).status).toBe(409);
    expect((await api(cp, 'DELETE', '/v1/policies/orders')).status).toBe(404);
  });

  it('drains and undrains an instance, and streams the decisions as server-sent events', async () => {
    const controller = new AbortController();
    const res = await fetch(`${cp.url}/v1/events/stream?service=db&kind=drain`, {
      headers: { authorization: `Bearer ${READER}` },
      signal: controller.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const until = async (needle: string) => {
      const deadline = Date.now() + 10_000;
      while (!text.includes(needle)) {
        if (Date.now() > deadline) throw new Error(`no "${needle}" in the event stream: ${text}`);
        const { value } = await reader.read();
        text += Buffer.from(value ?? new Uint8Array()).toString('utf8');
      }
    };
    await until(': connected');

    expect((await api(cp, 'POST', '/v1/instances/db-1/drain', { reason: 'kernel upgrade' })).body).toEqual({
      id: 'db-1',
      service: 'db',
      state: 'draining',
    });
    await until('"to":"draining"');
    expect(text).toMatch(/event: mesh-event\ndata: .*"reason":"kernel upgrade"/);
    await waitFor(
      'the client to see db-1 draining',
      async () =>
        ((await agentTable(client)) as any).services.db.endpoints.find((e: { id: string }) => e.id === 'db-1')
          .health === 'draining',
    );
    expect((await api(cp, 'POST', '/v1/instances/db-1/drain', { why: 'x' })).status).toBe(400);
    expect((await api(cp, 'POST', '/v1/instances/db-9/drain')).status).toBe(404);
    expect((await api(cp, 'POST', '/v1/instances/db-1/undrain')).body).toMatchObject({ id: 'db-1', state: 'healthy' });
    await until('"from":"draining"');
    controller.abort();
    // The drain also went to the JSON webhook (only drains are configured for it).
    await waitFor('the drain at the JSON webhook', () =>
      hooked.some((h) => h.path === '/json' && h.body.event?.to === 'draining'),
    );
    expect(hooked.find((h) => h.path === '/json')?.body.event).toMatchObject({
      kind: 'drain',
      service: 'db',
      instance: 'db-1',
      reason: 'kernel upgrade',
    });
  });

  it('fails over and back by hand, and refuses what cannot be done', async () => {
    // The drain above emptied tier 0, so tier 1 took over; a manual failback skips the 60 s hold.
    expect((await api(cp, 'GET', '/v1/services/db')).body.activeTier).toBe(1);
    await waitFor(
      'the engine to see tier 0 healthy again',
      async () => (await api(cp, 'GET', '/v1/failover')).body.services[0].tiers[0].healthy === 1,
    );
    expect((await api(cp, 'POST', '/v1/services/db/failback')).body).toEqual({ service: 'db', activeTier: 0 });
    expect((await api(cp, 'POST', '/v1/services/db/failover')).body).toEqual({ service: 'db', activeTier: 1 });
    await waitFor('the client on tier 1', async () => ((await agentTable(client)) as any).services.db.activeTier === 1);
    const again = await api(cp, 'POST', '/v1/services/db/failover');
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/no healthy endpoint in a tier above 1/);
    expect((await api(cp, 'POST', '/v1/services/db/failback')).body).toEqual({ service: 'db', activeTier: 0 });
    expect((await api(cp, 'POST', '/v1/services/nope/failover')).status).toBe(409);
    const events = (await api(cp, 'GET', '/v1/events?kind=failover')).body.events;
    await waitFor('the failovers at the Slack webhook', () => hooked.filter((h) => h.path === '/slack').length >= 4);
    expect(hooked.filter((h) => h.path === '/slack').map((h) => typeof h.body.text)).toEqual([
      'string',
      'string',
      'string',
      'string',
    ]);
    expect(hooked.filter((h) => h.path === '/slack')[1]?.body.text).toMatch(/db.*tier-1.*tier-0.*manual failback/);
    expect(events.map((e: { from: string; to: string; reason: string }) => `${e.from}->${e.to} ${e.reason}`)).toEqual([
      'tier-0->tier-1 tier 0 has no healthy endpoint; tier 1 takes over',
      'tier-1->tier-0 manual failback through the admin API',
      'tier-0->tier-1 manual failover through the admin API',
      'tier-1->tier-0 manual failback through the admin API',
    ]);
  });

  it('keeps API policies and drains across a restart', async () => {
    await api(cp, 'POST', '/v1/instances/db-2/drain');
    const before = (await api(cp, 'GET', '/v1/policies/db')).body;
    // An open event stream does not hold up a clean shutdown.
    const controller = new AbortController();
    const stream = await fetch(`${cp.url}/v1/events/stream`, {
      headers: { authorization: `Bearer ${READER}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(await cp.proc.stop('SIGTERM', 8000)).toEqual({ code: 0, signal: null });
    controller.abort();
    cp = await mesh.controlPlane(extra, cp.port);
    expect((await api(cp, 'GET', '/v1/policies/db')).body).toEqual(before);
    await waitFor(
      'db-2 drained again after the restart',
      async () => (await api(cp, 'GET', '/v1/instances/db-2')).body.state === 'draining',
    );
    await api(cp, 'POST', '/v1/instances/db-2/undrain');
  });

  it('backs up, and after a wiped data directory restores the exact state, which agents converge on', async () => {
    const full = await api(cp, 'GET', '/v1/snapshots/full');
    expect(full.body).toMatchObject({ format: 'meshlet-snapshot/v1', kind: 'full', since: 0 });
    await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'maglev', hashKey: { source: 'header', name: 'x-user' } } },
    });
    await api(cp, 'PUT', '/v1/policies/cache', { policy: { timeouts: { requestMs: 1234 } } });
    // After the restart above, db-1's agent may still be reconnecting: wait for it, then drain it.
    await waitFor(
      'db-1 back after the restart',
      async () => (await api(cp, 'GET', '/v1/instances/db-1')).body.state === 'healthy',
    );
    expect((await api(cp, 'POST', '/v1/instances/db-1/drain')).status).toBe(200);
    const inc = await api(cp, 'GET', `/v1/snapshots/incremental?since=${full.body.revision}`);
    expect(inc.body).toMatchObject({ kind: 'incremental', since: full.body.revision });
    expect((await api(cp, 'GET', '/v1/snapshots/incremental?since=abc')).status).toBe(400);
    // The state, without the store's revisions (a restore writes afresh, so resource versions are new).
    const state = async () =>
      (await api(cp, 'GET', '/v1/policies')).body.items.map(
        ({ resourceVersion: _rv, ...item }: { resourceVersion: string }) => item,
      );
    const want = await state();
    expect(want.map((i: { service: string }) => i.service)).toEqual(['cache', 'db']);

    await cp.proc.stop();
    rmSync(join(scratch.dir, 'cp-data'), { recursive: true, force: true });
    cp = await mesh.controlPlane(extra, cp.port);
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([]);

    // A corrupted, a truncated and a foreign file are refused and change nothing.
    const corrupted = structuredClone(inc.body);
    corrupted.entries[0].modRevision += 1;
    for (const [snapshots, problem] of [
      [[full.body, corrupted], /checksum/],
      [[{ ...full.body, entries: undefined }], /./],
      [[{ hello: 'world' }], /not a meshlet snapshot/],
      [[inc.body], /full/],
    ] as const) {
      const r = await api(cp, 'POST', '/v1/snapshots/restore', { snapshots });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(problem);
    }
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([]);

    const restored = await api(cp, 'POST', '/v1/snapshots/restore', { snapshots: [full.body, inc.body] });
    expect(restored.status).toBe(200);
    // cluster, services, the two policies and the drain
    expect(restored.body.restored.keys).toBe(5);

    expect(await state()).toEqual(want);
    await waitFor(
      'db-1 drained after the restore',
      async () => (await api(cp, 'GET', '/v1/instances/db-1')).body.state === 'draining',
    );
    await waitFor('the client to converge on the restored policy', async () => {
      const db = ((await agentTable(client)) as any).services.db;
      return (
        db.policy.balancer.kind === 'maglev' &&
        db.endpoints.find((e: { id: string }) => e.id === 'db-1').health === 'draining'
      );
    });
  });
});
