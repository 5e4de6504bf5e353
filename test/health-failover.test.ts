import { describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import { requestLoop } from './harness/load.js';
import { type AgentHandle, type AppHandle, agentTable, endpointIds, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// The control plane's decisions through real processes: health from the
// three signals, flap damping, per-agent tables and rings.

interface InstanceView {
  id: string;
  state: string;
  reason: string;
  evidence: Record<string, unknown> | null;
  heldUntil: string | null;
  callers: string[];
}

async function instance(cpPort: number, service: string, id: string): Promise<InstanceView | undefined> {
  const s = (await getJson(cpPort, '/v1/services')).services.find((x: { name: string }) => x.name === service);
  return s?.instances.find((i: InstanceView) => i.id === id);
}

async function agentsById(
  cpPort: number,
): Promise<
  Map<
    string,
    { ackedVersion: number | null; ackedAt: string | null; sentVersion: number | null; subscriptions: string[] }
  >
> {
  return new Map((await getJson(cpPort, '/v1/agents')).agents.map((a: { agentId: string }) => [a.agentId, a]));
}

describe('kill -9 of an instance', () => {
  const mesh = withMesh();

  it('is marked unhealthy and every agent that calls or fronts it ACKs the new table within 1 s; others are not sent it', async () => {
    const { cp, apps, agents } = await mesh.start({
      instances: { hello: ['hello-1', 'hello-2', 'hello-3'], orders: ['orders-1'] },
    });
    const callers = await Promise.all(
      ['caller-1', 'caller-2', 'caller-3'].map((agentId) =>
        mesh.agent({ agentId, cp, outbound: true, calls: ['hello'] }),
      ),
    );
    const bystander = await mesh.agent({ agentId: 'bystander', cp, outbound: true, calls: ['orders'] });
    for (const c of callers)
      await waitFor(`${c.agentId} to see three instances`, async () => (await endpointIds(c, 'hello')).length === 3);
    expect(Object.keys((await agentTable(bystander))?.services ?? {})).toEqual(['orders']);
    const versionBefore = (await getJson(cp.port, '/v1/services')).services.find(
      (s: { name: string }) => s.name === 'hello',
    ).version as number;

    const killedAt = Date.now();
    agents['hello-1']?.proc.child.kill('SIGKILL');
    apps['hello-1']?.proc.child.kill('SIGKILL');

    const marked = await waitFor(
      'the control plane to mark hello-1 unhealthy',
      async () =>
        (await getJson(cp.port, '/v1/events?instance=hello-1')).events.find(
          (e: { to: string }) => e.to === 'unhealthy',
        ) as { time: string; reason: string } | undefined,
      { intervalMs: 10 },
    );
    const version = await waitFor('the table version carrying the change', async () => {
      const v = (await getJson(cp.port, '/v1/services')).services.find((s: { name: string }) => s.name === 'hello')
        .version as number;
      return v > versionBefore ? v : undefined;
    });
    const acks = await waitFor(
      'every caller to ACK it',
      async () => {
        const byId = await agentsById(cp.port);
        const times = callers.map((c) => byId.get(c.agentId));
        return times.every((a) => (a?.ackedVersion ?? 0) >= version)
          ? times.map((a) => Date.parse(a?.ackedAt as string) - killedAt)
          : undefined;
      },
      { intervalMs: 10 },
    );
    const convergence = await waitFor(
      'the convergence record',
      async () =>
        (await getJson(cp.port, '/v1/convergence')).recent.find((c: { version: number }) => c.version === version) as
          { durationMs: number; agents: number } | undefined,
    );
    const markedMs = Date.parse(marked.time) - killedAt;
    console.log(
      `[kill -9] hello-1 marked unhealthy ${markedMs} ms after the kill (${marked.reason}); ` +
        `callers ACKed table v${version} at ${acks.join(', ')} ms; convergence (decision -> last ACK) ${convergence.durationMs} ms over ${convergence.agents} agents`,
    );
    expect(marked.reason).toMatch(/^agent disconnected/);
    expect(Math.max(...acks)).toBeLessThan(1000);
    // The three callers, and hello-2 and hello-3: an instance's agent holds its own service's entry (its mTLS mode
    // and authorization policy), so it is sent the change too.
    expect(convergence.agents).toBe(5);
    // The bystander does not call hello: it was sent nothing about it.
    expect((await agentsById(cp.port)).get('bystander')?.sentVersion ?? 0).toBeLessThan(version);
    for (const c of callers) expect(await endpointIds(c, 'hello')).toEqual(['hello-2', 'hello-3']);
  });
});

describe("callers' observations", () => {
  const mesh = withMesh();

  it('mark an instance that resets its callers unhealthy while its own health check passes, and it returns when the fault clears', async () => {
    // The callers' hold (5 s by default) and the probation (3 s) short: this is about which signal marks the
    // instance and that it comes back, not about how long the defaults hold it (health-engine's unit tests pin them).
    const { cp, apps } = await mesh.start({
      instances: { hello: ['hello-1', 'hello-2', 'hello-3'] },
      controlPlane: { health: { observationHoldMs: 2000, recoverMs: 1000 } },
    });
    const callers = await Promise.all(
      ['caller-1', 'caller-2'].map((agentId) => mesh.agent({ agentId, cp, outbound: true, calls: ['hello'] })),
    );
    for (const c of callers)
      await waitFor(`${c.agentId} to see three instances`, async () => (await endpointIds(c, 'hello')).length === 3);
    const loops = callers.map((c) =>
      requestLoop(c.outboundPort as number, 'http://hello/', { workers: 2, maxMs: 60_000 }),
    );
    await waitFor('traffic on every instance', () => loops.every((l) => l.result.byInstance.size === 3));
    await waitFor(
      'both callers to have reported on hello-1',
      async () => (await instance(cp.port, 'hello', 'hello-1'))?.callers.join() === 'caller-1,caller-2',
    );

    const faultAt = Date.now();
    await apps['hello-1']?.setFault('reset');
    const down = await waitFor(
      'hello-1 to be marked unhealthy by its callers',
      async () => {
        const i = await instance(cp.port, 'hello', 'hello-1');
        return i?.state === 'unhealthy' ? i : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    const downMs = Date.now() - faultAt;
    expect(down.reason).toMatch(/callers see it failing/);
    expect(down.evidence).toMatchObject({ signal: 'callers' });
    expect((down.evidence?.failing as string[]).sort()).toEqual(['caller-1', 'caller-2']);
    // Its own agent still reports its app healthy: the health check path is not reset.
    expect((await httpRequest(apps['hello-1']?.port as number, '/healthz')).status).toBe(200);
    for (const c of callers)
      await waitFor(
        `${c.agentId} to stop routing to hello-1`,
        async () => !(await endpointIds(c, 'hello')).includes('hello-1'),
      );

    const clearedAt = Date.now();
    await apps['hello-1']?.setFault('none');
    await waitFor(
      'hello-1 to be healthy again',
      async () => (await instance(cp.port, 'hello', 'hello-1'))?.state === 'healthy',
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const upMs = Date.now() - clearedAt;
    for (const c of callers)
      await waitFor(`${c.agentId} to route to hello-1 again`, async () =>
        (await endpointIds(c, 'hello')).includes('hello-1'),
      );
    const results = await Promise.all(loops.map((l) => l.stop()));
    const events = (await getJson(cp.port, '/v1/events?instance=hello-1')).events.map(
      (e: { from: string; to: string }) => `${e.from}->${e.to}`,
    );
    console.log(
      `[observations] hello-1 resetting its callers: marked unhealthy after ${downMs} ms; healthy again ${upMs} ms after the fault cleared; ` +
        `events ${events.join(', ')}; requests ${results.map((r) => `${r.sent} sent/${r.failed} failed`).join(', ')}`,
    );
    expect(events).toContain('unhealthy->recovering');
    expect(events.at(-1)).toBe('recovering->healthy');
    // Retries went to the other instances: the callers' clients saw no failure.
    for (const r of results) expect(r.failures).toEqual([]);
  });
});

describe('flap damping', () => {
  const mesh = withMesh();

  it('holds a flapping instance down after its health check passes again', async () => {
    const holdDownMs = 3000;
    const { cp, apps } = await mesh.start({
      controlPlane: { health: { flapThreshold: 2, holdDownMs, recoverMs: 200 } },
      instances: { hello: ['hello-1'] },
    });
    const app = apps['hello-1'] as AppHandle;
    const state = async () => (await instance(cp.port, 'hello', 'hello-1'))?.state;
    await waitFor('hello-1 healthy', async () => (await state()) === 'healthy');

    for (let flap = 1; flap <= 3; flap++) {
      await app.setFault('unhealthy');
      await waitFor(`flap ${flap}: unhealthy`, async () => (await state()) === 'unhealthy');
      await app.setFault('none');
      if (flap < 3) await waitFor(`flap ${flap}: back`, async () => (await state()) !== 'unhealthy');
    }
    const clearedAt = Date.now();
    const held = await waitFor('the hold-down', async () => {
      const i = await instance(cp.port, 'hello', 'hello-1');
      return i?.heldUntil ? i : undefined;
    });
    expect(held.state).toBe('unhealthy');
    const lastEvent = (await getJson(cp.port, '/v1/events?instance=hello-1&limit=5')).events
      .filter((e: { to: string }) => e.to === 'unhealthy')
      .at(-1);
    expect(lastEvent.reason).toMatch(/flapping \(3 times unhealthy within 60000 ms\): held down for 3000 ms/);
    await waitFor('hello-1 released after the hold-down', async () => (await state()) !== 'unhealthy', {
      timeoutMs: holdDownMs + 5000,
      intervalMs: 20,
    });
    const heldMs = Date.now() - clearedAt;
    console.log(
      `[flap damping] third flap: app healthy again, instance held down ${heldMs} ms (hold-down ${holdDownMs} ms)`,
    );
    expect(heldMs).toBeGreaterThanOrEqual(holdDownMs - 1000);
  });
});

describe('per-agent tables and rings', () => {
  const mesh = withMesh();

  it('an agent learns a service on its first request, gets only what it calls, and its ring agrees with the published one', async () => {
    const { cp, agents } = await mesh.start({
      controlPlane: {
        services: { cache: { balancer: { kind: 'ring_hash', hashKey: { source: 'header', name: 'x-user' } } } },
      },
      instances: { cache: ['cache-1', 'cache-2', 'cache-3'], hello: ['hello-1'] },
    });
    await waitFor('every instance healthy', async () =>
      (await getJson(cp.port, '/v1/services')).services.every(
        (s: { healthy: number; total: number }) => s.healthy === s.total && s.total > 0,
      ),
    );
    const client = await mesh.agent({ agentId: 'client', cp, outbound: true });
    expect(Object.keys((await agentTable(client))?.services ?? {})).toEqual([]);

    // The first request waits for the service to arrive in the table.
    const first = await httpRequest(client.outboundPort as number, 'http://cache/', { headers: { 'x-user': 'u-1' } });
    expect(first.status).toBe(200);
    const owner = String(first.headers['x-instance']);
    for (let i = 0; i < 5; i++)
      expect(
        String(
          (await httpRequest(client.outboundPort as number, 'http://cache/', { headers: { 'x-user': 'u-1' } })).headers[
            'x-instance'
          ],
        ),
      ).toBe(owner);
    expect(Object.keys((await agentTable(client))?.services ?? {})).toEqual(['cache']);
    expect((await agentsById(cp.port)).get('client')?.subscriptions).toEqual(['cache']);
    expect((await httpRequest(client.outboundPort as number, 'http://no-such-service/')).status).toBe(404);

    const ringOf = async () =>
      (await getJson(cp.port, '/v1/rings')).rings.find((r: { service: string }) => r.service === 'cache');
    const ring = await waitFor('the client to report an agreeing ring checksum', async () => {
      const r = await ringOf();
      return r?.agents.agreeing >= 1 ? r : undefined;
    });
    expect(ring.members.map((m: { id: string }) => m.id)).toEqual(['cache-1', 'cache-2', 'cache-3']);
    expect(ring.agents.disagreeing).toEqual([]);
    expect((await agentTable(client))?.services.cache?.ring?.version).toBe(ring.version);

    // A member leaves: a new ring version, and the client agrees again.
    const gone = agents[owner] as AgentHandle;
    gone.proc.child.kill('SIGKILL');
    const next = await waitFor('a new ring the client agrees with', async () => {
      const r = await ringOf();
      return r && r.version > ring.version && r.agents.agreeing >= 1 ? r : undefined;
    });
    expect(next.members.map((m: { id: string }) => m.id)).not.toContain(owner);
    expect(next.agents.disagreeing).toEqual([]);
    const moved = await httpRequest(client.outboundPort as number, 'http://cache/', { headers: { 'x-user': 'u-1' } });
    expect(moved.status).toBe(200);
    expect(String(moved.headers['x-instance'])).not.toBe(owner);
  });

  it('a Maglev ring of 655373 slots: its checksums are computed in slices on both ends, and the agent agrees', async () => {
    const { cp } = await mesh.start({
      controlPlane: {
        services: {
          cache: {
            balancer: { kind: 'maglev', maglevTableSize: 655_373, hashKey: { source: 'header', name: 'x-user' } },
          },
        },
      },
      instances: { cache: ['cache-1', 'cache-2'] },
    });
    const client = await mesh.agent({ agentId: 'client', cp, outbound: true });
    const first = await httpRequest(client.outboundPort as number, 'http://cache/', { headers: { 'x-user': 'u-1' } });
    expect(first.status).toBe(200);
    // The ring and the client's own report, read together until they agree: /v1/agents reads the client's last
    // report on its own, and a report may come after /v1/rings counted the one before (or a newer ring came).
    const { ring, agent } = await waitFor(
      'the client to report the ring checksum the control plane holds',
      async () => {
        const r = (await getJson(cp.port, '/v1/rings')).rings.find((x: { service: string }) => x.service === 'cache');
        const a = (await getJson(cp.port, '/v1/agents')).agents.find(
          (x: { agentId: string }) => x.agentId === 'client',
        );
        const mine = a?.rings?.find((x: { service: string }) => x.service === 'cache');
        return r?.agents.agreeing >= 1 && mine?.version === r.version ? { ring: r, agent: a } : undefined;
      },
    );
    expect(ring.agents.disagreeing).toEqual([]);
    expect(agent.rings).toEqual([{ service: 'cache', version: ring.version, checksum: ring.checksum, agrees: true }]);
  });
});
