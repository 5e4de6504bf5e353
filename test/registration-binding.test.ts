import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { httpRequest } from './harness/http.js';
import getPort from 'get-port';
import {
  AGENT_BIN,
  type AgentHandle,
  type ControlPlaneHandle,
  endpointIds,
  startAgent,
  startDemoApp,
  withMesh,
} from './harness/mesh.js';
import { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

const ADMIN = 'admin-5d1f0b7c3e9a2468';
const as = { headers: { authorization: `Bearer ${ADMIN}` } };

/**
 * An agent written by an attacker: a raw stream that says hello, keeps
 * sending heartbeats, and sends whatever it is told to.
 */
class RawAgent {
  readonly messages: any[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #heartbeats: NodeJS.Timeout | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => this.messages.push(JSON.parse(d.toString())));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        clearInterval(this.#heartbeats);
        resolve({ code, reason: reason.toString() });
      }),
    );
  }

  static async open(url: string, hello: Record<string, unknown>): Promise<RawAgent> {
    const agent = new RawAgent(new WebSocket(url));
    await once(agent.ws, 'open');
    agent.send({ type: 'hello', protocolVersion: 1, tableVersion: 0, ...hello });
    let seq = 0;
    agent.#heartbeats = setInterval(() => agent.send({ type: 'heartbeat', seq: seq++ }), 200);
    return agent;
  }

  send(message: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Whether a routing table came (the hello was admitted). */
  admitted(): boolean {
    return this.messages.some((m) => m.type === 'routes');
  }

  close(): void {
    clearInterval(this.#heartbeats);
    this.ws.close();
  }
}

const instanceAt = (service: string, id: string, host: string) => ({
  instance: { service, id, host, port: 15000, tier: 0, weight: 1, labels: {} },
});

/** An observation report: `failed` failures of `id` of `service`. */
const failing = (service: string, id: string, failed = 100) => ({
  type: 'observations',
  windowMs: 1000,
  endpoints: [{ service, id, ok: 0, failed }],
});

describe('registration and observations bound to the agent', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  let helloCred: string;
  let caller: AgentHandle;
  const raws: RawAgent[] = [];

  async function mint(service: string): Promise<string> {
    const r = await httpRequest(cp.port, '/v1/join-credentials', {
      ...as,
      method: 'POST',
      headers: { ...as.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
    });
    expect(r.status).toBe(201);
    return r.json().credential;
  }
  const metric = async (name: string, labels = ''): Promise<number> => {
    const text = (await httpRequest(cp.port, '/metrics', as)).body;
    const escaped = labels.replace(/[{}]/g, (c) => `\\${c}`);
    const m = new RegExp(`^${name}${escaped} (\\d+)$`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  const instance = async (id: string): Promise<any> => (await httpRequest(cp.port, `/v1/instances/${id}`, as)).json();
  const events = async (id: string): Promise<any[]> =>
    (await httpRequest(cp.port, `/v1/events?instance=${id}`, as)).json().events;
  /** Requests through the caller: every one must be answered by a real hello instance. */
  const callerTrafficIsIntact = async () => {
    for (let i = 0; i < 20; i++) {
      const r = await httpRequest(caller.outboundPort as number, 'http://hello/');
      expect(r.status).toBe(200);
      expect(['hello-1', 'hello-2']).toContain(r.headers['x-instance']);
    }
  };

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: { adminToken: ADMIN } });
    helloCred = await mint('hello');
    for (const id of ['hello-1', 'hello-2']) {
      const app = await startDemoApp('hello', id);
      await startAgent(scratch, { agentId: id, cp, instance: { service: 'hello', app }, joinToken: helloCred });
    }
    caller = await startAgent(scratch, {
      agentId: 'web-1',
      cp,
      outbound: true,
      calls: ['hello'],
      // A client-only agent names its credential's service (slice B1).
      service: 'web',
      joinToken: await mint('web'),
    });
    await waitFor(
      'the caller to see both hello instances',
      async () => (await endpointIds(caller, 'hello')).join() === 'hello-1,hello-2',
    );
  });

  afterAll(() => {
    for (const r of raws) r.close();
  });

  it("an advertised address pointing elsewhere is refused, counted and logged, and no caller's traffic moves", async () => {
    const before = await metric('meshlet_cp_registration_refusals_total', '{reason="address_mismatch"}');
    // A holder of hello's own credential points callers at another host's port.
    const elsewhere = await RawAgent.open(cp.streamUrl, {
      agentId: 'hello-evil',
      joinToken: helloCred,
      ...instanceAt('hello', 'hello-evil', '192.0.2.10'),
    });
    raws.push(elsewhere);
    const closed = await elsewhere.closed;
    expect(closed.code).toBe(4003);
    expect(closed.reason).toContain('192.0.2.10 is not the address this agent connects from');
    expect(elsewhere.admitted()).toBe(false);
    expect(elsewhere.messages.find((m) => m.type === 'error')).toMatchObject({
      code: 'MESHLET_REGISTRATION_REFUSED',
      message: expect.stringContaining('listeners.inbound.advertiseHost'),
    });

    // A host name: what it resolves to is not the registration's to say.
    const named = await RawAgent.open(cp.streamUrl, {
      agentId: 'hello-named',
      joinToken: helloCred,
      ...instanceAt('hello', 'hello-named', 'evil.example'),
    });
    raws.push(named);
    expect((await named.closed).code).toBe(4003);

    expect(await metric('meshlet_cp_registration_refusals_total', '{reason="address_mismatch"}')).toBe(before + 1);
    expect(await metric('meshlet_cp_registration_refusals_total', '{reason="address_not_ip"}')).toBeGreaterThanOrEqual(
      1,
    );
    await waitFor('the refusal to be logged', async () =>
      cp.proc.output.includes('refused registration: the advertised host 192.0.2.10'),
    );
    const agents = (await httpRequest(cp.port, '/v1/agents', as)).json().agents.map((a: any) => a.agentId);
    expect(agents).not.toContain('hello-evil');
    expect(agents).not.toContain('hello-named');
    expect(await endpointIds(caller, 'hello')).toEqual(['hello-1', 'hello-2']);
    await callerTrafficIsIntact();
  });

  it('a real agent advertising another host is refused, and its log names the setting to fix', async () => {
    const app = await startDemoApp('hello', 'hello-3');
    const config = scratch.config('agent-hello-3', {
      agentId: 'hello-3',
      listeners: {
        outbound: { enabled: false },
        inbound: { host: '127.0.0.1', port: await getPort(), advertiseHost: '192.0.2.10' },
        admin: { host: '127.0.0.1', port: await getPort() },
      },
      controlPlane: { url: cp.streamUrl, joinToken: helloCred, heartbeatIntervalMs: 200, reconnectMaxDelayMs: 500 },
      dataDir: `${scratch.dir}/agent-hello-3`,
      instance: {
        service: 'hello',
        app: { host: '127.0.0.1', port: app.port },
        healthCheck: { path: '/healthz', intervalMs: 100, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 },
      },
    });
    const agent = new Proc('agent-hello-3', process.execPath, [AGENT_BIN, '--config', config]);
    try {
      await waitFor('the agent to log why it was refused', async () =>
        agent.output.includes(
          'the advertised host 192.0.2.10 is not the address this agent connects from (127.0.0.1): set listeners.inbound.advertiseHost to 127.0.0.1',
        ),
      );
      expect(agent.output).toContain('MESHLET_REGISTRATION_REFUSED');
      expect(await endpointIds(caller, 'hello')).toEqual(['hello-1', 'hello-2']);
      await callerTrafficIsIntact();
    } finally {
      // It retries with backoff: stop it, so that its refusals do not count in the tests after it.
      await agent.stop('SIGTERM', 5000);
      await app.proc.stop('SIGTERM', 5000);
    }
  });

  it("a refused registration's service name is never listed (refused before the registry)", async () => {
    const ghost = await RawAgent.open(cp.streamUrl, {
      agentId: 'ghost-1',
      joinToken: await mint('ghost'),
      ...instanceAt('ghost', 'ghost-1', '192.0.2.11'),
    });
    raws.push(ghost);
    expect((await ghost.closed).code).toBe(4003);
    const names = (await httpRequest(cp.port, '/v1/services', as)).json().services.map((s: any) => s.name);
    expect(names).toContain('hello');
    expect(names).not.toContain('ghost');
  });

  it("one process as two callers is one caller: it cannot mark an instance unhealthy, and no caller's traffic moves", async () => {
    // One credential, two streams under two agent ids, both told of hello (so their reports pass the table check).
    const evilCred = await mint('evil');
    const evil = await Promise.all(
      ['evil-a', 'evil-b'].map((agentId) =>
        RawAgent.open(cp.streamUrl, { agentId, service: 'evil', joinToken: evilCred, upstreams: ['hello'] }),
      ),
    );
    raws.push(...evil);
    await waitFor('both evil streams to get a table', async () => evil.every((e) => e.admitted()));
    const mergedBefore = await metric('meshlet_cp_callers_merged_total', '{reason="same_address"}');

    // The honest caller keeps calling, so that it has always reported hello-1 fine within the window; then
    // both evil streams report it failing. (With no other caller, any one caller is a majority of one.)
    let reports = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) await httpRequest(caller.outboundPort as number, 'http://hello/');
    })();
    let flood: NodeJS.Timeout | undefined;
    try {
      await waitFor('the honest caller to have reported on hello-1', async () =>
        (await instance('hello-1')).callers.includes('web-1'),
      );
      flood = setInterval(() => {
        for (const e of evil) e.send(failing('hello', 'hello-1'));
        reports++;
      }, 250);
      await waitFor('all three callers to have reported on hello-1', async () => {
        const i = await instance('hello-1');
        return ['evil-a', 'evil-b', 'web-1'].every((c) => i.callers.includes(c));
      });
      // By agent id that is 2 failing of 3 callers, a quorum; by credential it is 1 of 2.
      const i = await waitFor('hello-1 to be suspect on one failing caller', async () => {
        const v = await instance('hello-1');
        return v.state === 'suspect' ? v : undefined;
      });
      expect(i.evidence).toMatchObject({ callers: 2, quorum: 2 });
      expect(i.evidence.failing).toHaveLength(1);
      // Many more reports, each of which by agent id would make the quorum: it never falls.
      const until = reports + 12;
      await waitFor('12 more rounds of evil reports', async () => reports >= until);
      expect((await events('hello-1')).filter((e) => e.to === 'unhealthy')).toEqual([]);
      expect(['healthy', 'suspect']).toContain((await instance('hello-1')).state);
      expect(await metric('meshlet_cp_callers_merged_total', '{reason="same_address"}')).toBeGreaterThan(mergedBefore);
      await waitFor(`the log line ${'they count as one caller in the health quorum'}`, async () =>
        cp.proc.output.includes('they count as one caller in the health quorum'),
      );
    } finally {
      if (flood) clearInterval(flood);
      stop = true;
      await load;
    }
    expect(await endpointIds(caller, 'hello')).toEqual(['hello-1', 'hello-2']);
    await callerTrafficIsIntact();
    for (const e of evil) e.close();
  });

  it('observations of endpoints never sent to the agent are refused, and a flood of reports is limited', async () => {
    const spy = await RawAgent.open(cp.streamUrl, {
      agentId: 'spy',
      service: 'spy',
      joinToken: await mint('spy'),
      upstreams: [],
    });
    raws.push(spy);
    await waitFor('the spy to get its (empty) table', async () => spy.admitted());
    const notSent = await metric('meshlet_cp_reports_refused_total', '{type="observations",reason="not_sent"}');
    for (let i = 0; i < 5; i++) spy.send(failing('hello', 'hello-2'));
    await waitFor(
      'the reports on hello-2 to be refused',
      async () =>
        (await metric('meshlet_cp_reports_refused_total', '{type="observations",reason="not_sent"}')) >= notSent + 5,
    );
    expect((await instance('hello-2')).callers).not.toContain('spy');
    await waitFor(`the log line ${'refused observations of endpoints never sent to this agent'}`, async () =>
      cp.proc.output.includes('refused observations of endpoints never sent to this agent'),
    );

    // A flood: far over the burst at once; the stream stays up, the excess is dropped and counted.
    for (let i = 0; i < 200; i++) spy.send({ type: 'observations', windowMs: 1000, endpoints: [] });
    await waitFor(
      'the flood to be limited',
      async () =>
        (await metric('meshlet_cp_reports_refused_total', '{type="observations",reason="rate_limited"}')) >= 140,
    );
    await waitFor(`the log line ${'agent reports over the rate limit'}`, async () =>
      cp.proc.output.includes('agent reports over the rate limit'),
    );
    expect(spy.ws.readyState).toBe(WebSocket.OPEN);
    expect((await instance('hello-2')).state).toBe('healthy');
    await callerTrafficIsIntact();
  });
});

describe('registrations on a control plane of its own', () => {
  const mesh = withMesh();
  const extra = { auth: { adminToken: ADMIN }, registry: { forgetAfterMs: 300 } };

  it('a service name only an admitted, never-healthy, expired registration mentioned is gone, across a restart too', async () => {
    let cp = await mesh.controlPlane(extra);
    const names = async (): Promise<string[]> =>
      (await httpRequest(cp.port, '/v1/services', as)).json().services.map((s: any) => s.name);
    const minted = await httpRequest(cp.port, '/v1/join-credentials', {
      ...as,
      method: 'POST',
      headers: { ...as.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'phantom' }),
    });
    expect(minted.status).toBe(201);
    // Admitted (loopback advertising loopback to a control plane on loopback), but its app never healthy.
    const phantom = await RawAgent.open(cp.streamUrl, {
      agentId: 'phantom-1',
      joinToken: minted.json().credential,
      ...instanceAt('phantom', 'phantom-1', '127.0.0.1'),
    });
    phantom.send({ type: 'health', status: 'unhealthy', reason: 'never came up' });
    await waitFor('the phantom registration to be listed', async () => (await names()).includes('phantom'));
    phantom.close();
    expect((await phantom.closed).code).not.toBe(4003);
    await waitFor('the expired registration to be forgotten', async () => !(await names()).includes('phantom'));

    expect(await cp.proc.stop('SIGTERM', 8000)).toEqual({ code: 0, signal: null });
    cp = await mesh.controlPlane(extra, cp.port);
    expect(await names()).not.toContain('phantom');
    expect(await cp.proc.stop('SIGTERM', 8000)).toEqual({ code: 0, signal: null });
  });

  it("a credential holder on the control plane's host registering 127.0.0.1:15000 is refused when the control plane listens beyond loopback", async () => {
    const port = await getPort();
    // Plain HTTP beyond loopback needs the explicit opt-out (the test's agents are on loopback anyway).
    const cp = await mesh.controlPlane(
      { ...extra, listen: { host: '0.0.0.0', port }, tls: { allowPlaintextRemote: true } },
      port,
    );
    try {
      const minted = await httpRequest(cp.port, '/v1/join-credentials', {
        ...as,
        method: 'POST',
        headers: { ...as.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ service: 'admin-port' }),
      });
      // From loopback, it points remote callers at their own agent's admin port.
      const local = await RawAgent.open(cp.streamUrl, {
        agentId: 'local-1',
        joinToken: minted.json().credential,
        ...instanceAt('admin-port', 'local-1', '127.0.0.1'),
      });
      await waitFor('the registration to be refused', async () => local.ws.readyState === WebSocket.CLOSED);
      expect(await local.closed).toMatchObject({ code: 4003 });
      expect(local.messages.find((m) => m.type === 'error')?.message).toContain('listens beyond loopback');
      const names = (await httpRequest(cp.port, '/v1/services', as)).json().services.map((s: any) => s.name);
      expect(names).not.toContain('admin-port');
      const refusals = (await httpRequest(cp.port, '/metrics', as)).body;
      expect(refusals).toMatch(/^meshlet_cp_registration_refusals_total\{reason="address_mismatch"\} 1$/m);
    } finally {
      await cp.proc.stop('SIGTERM', 8000);
    }
  });
});
