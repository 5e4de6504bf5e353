import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER, startDbMesh } from './harness/admin-api.js';
import { type AgentHandle, agentTable, type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Drains and manual failover through the admin API of a real control plane
// with real agents, in this order (the drain empties tier 0, so the failover
// test starts on tier 1): the decisions as server-sent events, at the JSON
// and Slack webhooks, and in the client's table.

describe('drains and failover through the admin API', () => {
  const mesh = withMesh();
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
    ({ cp, client } = await startDbMesh(mesh, {
      auth: { adminToken: ADMIN, readOnlyToken: READER },
      failover: { failbackHoldMs: 60_000 },
      webhooks: [
        { url: `${hook}/json`, kinds: ['drain'] },
        { url: `${hook}/slack`, format: 'slack', kinds: ['failover'] },
      ],
    }));
  });
  afterAll(() => {
    receiver.close();
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
    expect((await api(cp, 'POST', '/v1/services/nope/failover')).status).toBe(404);
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
});
