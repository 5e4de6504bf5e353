import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson, httpRequest } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type AppHandle, agentTable, endpointIds, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The data plane through real processes: a control plane with policies, demo
// apps, their agents and a client agent, all on loopback.

describe('kill -9 of one of three instances under a steady GET loop', () => {
  const mesh = withMesh();

  it('costs no failed client request', async () => {
    const { apps, client } = await mesh.start({
      controlPlane: { services: { hello: { balancer: { kind: 'least_request' } } } },
      instances: { hello: ['hello-1', 'hello-2', 'hello-3'] },
      client: { calls: ['hello'] },
    });

    const loop = requestLoop(client.outboundPort as number, 'http://hello/', { workers: 4, maxMs: 30_000 });
    await waitFor('traffic on all three', () => loop.result.byInstance.size === 3 && loop.result.sent > 100);
    const killedAt = Date.now();
    apps['hello-1']?.proc.child.kill('SIGKILL');
    await waitFor(
      'hello-1 to be marked unhealthy at the client',
      async () => !(await endpointIds(client, 'hello')).includes('hello-1'),
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    const marked = Date.now();
    // Enough requests well after the mark, whatever the rate (a fast machine sends hundreds within the first 200 ms).
    await waitFor(
      '300 more requests, 150 of them 200 ms after the mark',
      () => loop.sentSince(marked).length >= 300 && loop.sentSince(marked + 200).length >= 150,
      { timeoutMs: 20_000 },
    );
    const result = await loop.stop();
    console.log(
      `[data plane: kill -9 of 1 of 3] requests=${result.sent} failed=${result.failed} marked unhealthy after ${marked - killedAt} ms`,
    );
    for (const f of result.failures.slice(0, 5))
      console.log(`  failure +${f.at - killedAt} ms: ${f.status} ${f.detail}`);
    expect(result.failed).toBe(0);
    const after = loop.sentSince(marked + 200);
    expect(after.length).toBeGreaterThan(100);
    expect(after.some((r) => r.instance === 'hello-1')).toBe(false);
    expect(new Set(after.map((r) => r.instance))).toEqual(new Set(['hello-2', 'hello-3']));
  });
});

describe('routes, splits, upgrades and trace context', () => {
  const mesh = withMesh();
  let client: AgentHandle;
  let upstreamPort: number;

  it('starts a mesh with a read/write split for orders and a dedicated port for hello', async () => {
    ({ client } = await mesh.start({
      controlPlane: {
        services: {
          orders: {
            routes: [
              { name: 'reads', match: { methods: ['GET', 'HEAD'] }, splits: [{ subset: { role: 'replica' } }] },
              { name: 'writes', splits: [{ subset: { role: 'primary' } }] },
            ],
          },
        },
      },
      instances: {
        orders: [
          { id: 'orders-primary', labels: { role: 'primary' } },
          { id: 'orders-replica-1', labels: { role: 'replica' } },
          { id: 'orders-replica-2', labels: { role: 'replica' } },
        ],
        hello: ['hello-1'],
      },
      // The port is taken as the client starts, after the nine processes before it.
      client: { calls: ['orders'], upstreams: { hello: 'free' } },
    }));
    upstreamPort = client.upstreamPorts.hello as number;
  });

  it('sends reads to the replicas only and writes to the primary only', async () => {
    const reads = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const a = await httpRequest(client.outboundPort as number, 'http://orders/items');
      expect(a.status).toBe(200);
      const who = String(a.headers['x-instance']);
      reads.set(who, (reads.get(who) ?? 0) + 1);
    }
    expect([...reads.keys()].sort()).toEqual(['orders-replica-1', 'orders-replica-2']);
    for (let i = 0; i < 10; i++) {
      // (Node's client sends a DELETE body without framing, so DELETE goes without one.)
      for (const [method, body] of [
        ['POST', 'x'],
        ['PUT', 'x'],
        ['DELETE', undefined],
      ] as const) {
        const a = await httpRequest(client.outboundPort as number, 'http://orders/items', {
          method,
          ...(body ? { body } : {}),
        });
        expect(a.status).toBe(200);
        expect(a.headers['x-instance']).toBe('orders-primary');
      }
    }
  });

  it('carries a WebSocket echo through two agents', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${client.outboundPort}/chat`, { headers: { host: 'hello' } });
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    await opened;
    const echoes: string[] = [];
    const got = new Promise<void>((resolve) => {
      ws.on('message', (data) => {
        echoes.push(String(data));
        if (echoes.length === 3) resolve();
      });
    });
    for (const m of ['one', 'two', 'three']) ws.send(m);
    await Promise.race([
      got,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${echoes.length} echoes in 5 s`)), 5_000)),
    ]);
    ws.close();
    expect(echoes).toEqual(['hello-1: one', 'hello-1: two', 'hello-1: three']);
  });

  it('answers an upgrade for an unknown service with a 404 that names it', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${client.outboundPort}/`, { headers: { host: 'payments' } });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(status).toBe(404);
  });

  it('reaches a service on its dedicated upstream port without naming it', async () => {
    const a = await httpRequest(upstreamPort, '/x', { headers: { host: 'anything' } });
    expect(a.status).toBe(200);
    expect(a.json()).toMatchObject({ service: 'hello', instance: 'hello-1', path: '/x' });
  });

  it('creates a W3C traceparent and x-request-id where absent, and keeps them where present', async () => {
    const fresh = (await httpRequest(client.outboundPort as number, 'http://hello/')).json();
    expect(fresh.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.requestId).toBe(fresh.traceparent.slice(3, 35));
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const kept = (
      await httpRequest(client.outboundPort as number, 'http://hello/', {
        headers: { traceparent: tp, 'x-request-id': 'req-1' },
      })
    ).json();
    expect(kept).toMatchObject({ traceparent: tp, requestId: 'req-1' });
  });
});

describe('tiers: active-standby takeover and failback', () => {
  const mesh = withMesh();

  it('sends everything to the backup while the primary tier has no healthy endpoint, and fails back only after the hold', async () => {
    const holdMs = 2000;
    const { cp, apps, client } = await mesh.start({
      controlPlane: { services: { db: { tiers: { mode: 'active-standby' } } }, failover: { failbackHoldMs: holdMs } },
      instances: {
        db: [
          { id: 'db-primary', tier: 0 },
          { id: 'db-backup', tier: 1 },
        ],
      },
      client: { calls: ['db'] },
    });
    const primary = apps['db-primary'] as AppHandle;
    const who = async (n: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < n; i++)
        seen.add(String((await httpRequest(client.outboundPort as number, 'http://db/')).headers['x-instance']));
      return [...seen].sort();
    };
    const activeTier = async () => (await agentTable(client))?.services.db?.activeTier;
    expect(await who(10)).toEqual(['db-primary']);
    expect(await activeTier()).toBe(0);

    await primary.setFault('unhealthy');
    await waitFor(
      'the primary to leave rotation',
      async () => (await endpointIds(client, 'db')).join() === 'db-backup',
    );
    expect(await who(10)).toEqual(['db-backup']);
    await waitFor('the backup tier to be the active one', async () => (await activeTier()) === 1);

    await primary.setFault('none');
    await waitFor('the primary to return', async () => (await endpointIds(client, 'db')).length === 2);
    const returnedAt = Date.now();
    // Healthy again, but the failback waits for the hold: traffic stays on the backup.
    expect(await who(10)).toEqual(['db-backup']);
    const failedBackAt = await waitFor(
      'the failback',
      async () => ((await activeTier()) === 0 ? Date.now() : undefined),
      { timeoutMs: holdMs + 5000 },
    );
    expect(await who(10)).toEqual(['db-primary']);
    console.log(
      `[failback] primary healthy again -> client on tier 0 after ${failedBackAt - returnedAt} ms (hold ${holdMs} ms)`,
    );
    expect(failedBackAt - returnedAt).toBeGreaterThanOrEqual(holdMs - 500);

    const events = (await getJson(cp.port, '/v1/events?service=db&kind=failover')).events as Array<{
      from: string;
      to: string;
      reason: string;
    }>;
    expect(events.map((e) => `${e.from}->${e.to}`)).toEqual(['tier-0->tier-1', 'tier-1->tier-0']);
    expect(events[0]?.reason).toBe('tier 0 has no healthy endpoint; tier 1 takes over');
    expect(events[1]?.reason).toMatch(/^tier 0 has been healthy for \d+ ms \(hold 2000 ms\)$/);
  });
});
