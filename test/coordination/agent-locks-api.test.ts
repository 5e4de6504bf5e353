import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentHandle, type StartedMesh, withMesh } from '../harness/mesh.js';
import { waitFor } from '../harness/wait.js';

// The app's lock and election API on real agents with a real control plane
// (file store): the test is the app, calling its agent's admin listener with
// fetch, as docs/coordination.md shows.

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } & Record<string, unknown> };
}

/** One call of the app to its agent; a write carries JSON (or the x-meshlet-request header when it has no body). */
async function call(
  agent: AgentHandle,
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Answer> {
  const res = await fetch(`http://127.0.0.1:${agent.adminPort}${path}`, {
    method,
    headers: body === undefined ? { 'x-meshlet-request': '1' } : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(signal ? { signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
}

interface Sse {
  events: Array<{ event: string; data: Record<string, unknown> }>;
  close: () => void;
}

/** Opens an events stream with fetch; `events` fills as they arrive. */
async function events(agent: AgentHandle, path: string): Promise<Sse> {
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${agent.adminPort}${path}`, { signal: ac.signal });
  expect(res.status).toBe(200);
  const out: Sse['events'] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) out.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
  })();
  return { events: out, close: () => ac.abort() };
}

const seen = (s: Sse, event: string) => () => s.events.find((e) => e.event === event);

/** How many acquires (and campaign tries) of this agent the control plane refused as held, from its /metrics. */
async function heldRefusals(agent: AgentHandle): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${agent.adminPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('meshlet_agent_coordination_requests_total{') &&
        l.includes('op="acquire"') &&
        l.includes('result="MESHLET_LOCK_HELD"'),
    );
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('the app lock and election API through real agents', () => {
  const mesh = withMesh();
  let m: StartedMesh;
  let a: AgentHandle;
  let b: AgentHandle;
  let c: AgentHandle;

  // The control plane frees a holder whose agent is away this long (and tells the agent so, disconnectGraceMs, for
  // it to tell its app lost by then): long enough here for the restart below to come back within it.
  const cpSettings = { heartbeat: { timeoutMs: 20_000, checkIntervalMs: 100 } };

  beforeAll(async () => {
    m = await mesh.start({ controlPlane: cpSettings, instances: { orders: ['o1', 'o2', 'o3'] } });
    a = m.agents.o1!;
    b = m.agents.o2!;
    c = m.agents.o3!;
  });

  const streams: Sse[] = [];
  afterAll(() => {
    for (const s of streams) s.close();
  });

  it('acquires, refuses another agent with 409 naming the holder, renews and releases', async () => {
    const got = await call(a, 'POST', '/v1/locks/nightly', { ttlMs: 10_000, label: 'o1' });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      name: 'nightly',
      service: 'orders',
      ttlMs: 10_000,
      holder: { agentId: 'o1', label: 'o1' },
    });
    const token = got.body.token as number;
    const held = await call(b, 'POST', '/v1/locks/nightly', {});
    expect(held.status).toBe(409);
    expect(held.body.error).toMatchObject({ code: 'MESHLET_LOCK_HELD', token, holder: { agentId: 'o1' } });
    const renewed = await call(a, 'PUT', '/v1/locks/nightly', { token });
    expect(renewed).toMatchObject({ status: 200, body: { token } });
    // Another agent with the right token is not the holder.
    expect((await call(b, 'PUT', '/v1/locks/nightly', { token })).body.error?.code).toBe('MESHLET_LOCK_NOT_HELD');
    expect(await call(a, 'DELETE', `/v1/locks/nightly?token=${token}`)).toMatchObject({
      status: 200,
      body: { released: true },
    });
    const next = await call(b, 'POST', '/v1/locks/nightly', {});
    expect(next.status).toBe(200);
    expect(next.body.token).toBeGreaterThan(token);
    await call(b, 'DELETE', `/v1/locks/nightly?token=${next.body.token as number}`);
  });

  it('a long-poll returns on the release; an acquire with waitMs gets the lock after it', async () => {
    const got = await call(a, 'POST', '/v1/locks/poll', { ttlMs: 30_000 });
    const now = await call(c, 'GET', '/v1/locks/poll');
    expect(now.body).toMatchObject({ token: got.body.token, holder: { agentId: 'o1' } });
    const poll = call(c, 'GET', `/v1/locks/poll?index=${now.body.revision as number}&waitMs=60000`);
    const refusedBefore = await heldRefusals(b);
    const waiting = call(b, 'POST', '/v1/locks/poll', { waitMs: 60_000 });
    // b's first try is refused before the release: its agent then waits for the release event.
    await waitFor('b to be refused once', async () => (await heldRefusals(b)) > refusedBefore);
    await call(a, 'DELETE', `/v1/locks/poll?token=${got.body.token as number}`);
    const changed = await poll;
    expect(changed.status).toBe(200);
    expect(changed.body.revision).toBeGreaterThan(now.body.revision as number);
    const won = await waiting;
    expect(won.status).toBe(200);
    expect(won.body).toMatchObject({ holder: { agentId: 'o2' } });
    expect(won.body.token).toBeGreaterThan(got.body.token as number);
    await call(b, 'DELETE', `/v1/locks/poll?token=${won.body.token as number}`);
  });

  it('tells the holder lost on its events stream when the TTL lapses', async () => {
    const got = await call(a, 'POST', '/v1/locks/lapse', { ttlMs: 1000 });
    const s = await events(a, '/v1/locks/lapse/events');
    streams.push(s);
    await waitFor('the first state', seen(s, 'state'));
    expect(s.events[0]?.data).toMatchObject({ token: got.body.token });
    const lost = await waitFor('lost', seen(s, 'lost'));
    expect(lost.data).toEqual({ token: got.body.token, reason: 'expired' });
    // Lost stays lost, even in the moment the store (counting from its write) still holds it.
    expect((await call(a, 'PUT', '/v1/locks/lapse', { token: got.body.token })).body.error?.code).toBe(
      'MESHLET_LOCK_NOT_HELD',
    );
    await waitFor(
      'the store to free it',
      async () => (await call(a, 'GET', '/v1/locks/lapse')).body.holder === undefined,
    );
    s.close();
  });

  it('a campaign blocks while another leads, then wins with a higher term; resign frees it', async () => {
    const lead = await call(a, 'POST', '/v1/elections/primary/campaign', { ttlMs: 10_000 });
    expect(lead.status).toBe(200);
    const term = lead.body.term as number;
    let settled = false;
    const before = await heldRefusals(b);
    const campaign = call(b, 'POST', '/v1/elections/primary/campaign', { label: 'o2' }).finally(() => (settled = true));
    await waitFor('b to campaign', async () => (await heldRefusals(b)) > before);
    const view = await call(c, 'GET', '/v1/elections/primary');
    expect(view.body).toMatchObject({ leader: { agentId: 'o1' }, term });
    expect(settled).toBe(false);
    expect(await call(a, 'DELETE', `/v1/elections/primary?term=${term}`)).toMatchObject({ body: { resigned: true } });
    const won = await campaign;
    expect(won.status).toBe(200);
    expect(won.body).toMatchObject({ leader: { agentId: 'o2', label: 'o2' }, ttlMs: 3000 });
    expect(won.body.term).toBeGreaterThan(term);
    expect((await call(b, 'PUT', '/v1/elections/primary', { term: won.body.term })).status).toBe(200);
    await call(b, 'DELETE', `/v1/elections/primary?term=${won.body.term as number}`);
  });

  it('the leader agent killed: another campaigner is elected within 5 s, with a higher term', async () => {
    const leader = await call(c, 'POST', '/v1/elections/failover/campaign', {});
    expect(leader.status).toBe(200);
    const before = await heldRefusals(b);
    const campaign = call(b, 'POST', '/v1/elections/failover/campaign', {});
    await waitFor('b to campaign', async () => (await heldRefusals(b)) > before);
    await c.proc.stop('SIGKILL');
    const won = await waitFor(
      'a new leader',
      async () => {
        const v = await call(b, 'GET', '/v1/elections/failover');
        return (v.body.leader as { agentId?: string } | null)?.agentId === 'o2' ? v : undefined;
      },
      { timeoutMs: 5_000 },
    );
    expect(won.body.term).toBeGreaterThan(leader.body.term as number);
    expect((await campaign).body.term).toBe(won.body.term);
  });

  it('the control plane stopped: 503 at once and doubt on the holder events stream; restarted within its heartbeat.timeoutMs: restored, the lock still held', async () => {
    const got = await call(a, 'POST', '/v1/locks/doubt', { ttlMs: 60_000 });
    expect(got.status).toBe(200);
    const s = await events(a, '/v1/locks/doubt/events');
    streams.push(s);
    await waitFor('the first state', seen(s, 'state'));
    await m.cp.proc.stop('SIGKILL');
    await waitFor('doubt', seen(s, 'doubt'));
    const refused = await call(a, 'POST', '/v1/locks/other', {});
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('MESHLET_COORDINATION_UNAVAILABLE');
    expect(refused.body.error?.message).toMatch(/no stream to the control plane/);
    const renew = await call(a, 'PUT', '/v1/locks/doubt', { token: got.body.token });
    expect(renew.status).toBe(503);
    // Back on the same data (the file store keeps held locks): restored, and the lock is still the holder's.
    await mesh.controlPlane(cpSettings, m.cp.port);
    await waitFor('restored', seen(s, 'restored'));
    const renewed = await waitFor('a renewal through the new stream', async () => {
      const r = await call(a, 'PUT', '/v1/locks/doubt', { token: got.body.token });
      return r.status === 200 ? r : undefined;
    });
    expect(renewed.body.token).toBe(got.body.token);
    expect(s.events.some((e) => e.event === 'lost')).toBe(false);
  });
});
