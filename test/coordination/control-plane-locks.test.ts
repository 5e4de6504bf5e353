import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER } from '../harness/admin-api.js';
import { type ControlPlaneHandle, Scratch, startControlPlane } from '../harness/mesh.js';
import { meshctl, rowOf } from '../harness/meshctl.js';
import { killAll } from '../harness/process.js';
import { RawCoordAgent } from '../harness/raw-coord-agent.js';
import { waitFor } from '../harness/wait.js';

// The control plane's side of application locks, through real agent streams
// (written by hand, as a hostile agent could) against the real binary on the
// embedded file store: tokens, events, lapses, a restart, the operators' API,
// and the attacks on another service's or another instance's lock.

const scratch = new Scratch();
const agents: RawCoordAgent[] = [];
let cp: ControlPlaneHandle;
const SHARED = 'shared-join-token-0123456789abcdef';
const extra = { auth: { adminToken: ADMIN, readOnlyToken: READER, joinToken: SHARED, allowSharedJoinToken: true } };
let n = 0;

const credentials = new Map<string, string>();
/** A per-service join credential (minted once per service): the agent's authenticated service. */
const credential = async (service: string): Promise<string> => {
  if (!credentials.has(service))
    credentials.set(service, (await api(cp, 'POST', '/v1/join-credentials', { service })).body.credential);
  return credentials.get(service)!;
};
/** An agent stream of `service` (undefined: a client-only agent on the shared join token, with no service). */
const agent = async (service: string | undefined, instanceId?: string) => {
  const joinToken = service === undefined ? SHARED : await credential(service);
  const a = await RawCoordAgent.open(cp.streamUrl, `agent-${++n}`, service, instanceId ?? `inst-${n}`, { joinToken });
  agents.push(a);
  return a;
};

beforeAll(async () => {
  cp = await startControlPlane(scratch, extra);
});

afterAll(async () => {
  for (const a of agents) a.close();
  await killAll();
  scratch.remove();
});

describe('control-plane locks over agent streams (file store)', () => {
  it('acquire gives a token; a second acquire gets MESHLET_LOCK_HELD with the holder; release is an event to a watcher', async () => {
    const a = await agent('orders');
    const b = await agent('orders');
    const w = await agent('orders');
    expect(await w.ask({ op: 'watch', name: 'nightly' })).toMatchObject({ ok: true, state: { revision: 0 } });
    const got = await a.ask({ op: 'acquire', name: 'nightly', ttlMs: 10_000, label: 'host-a' });
    expect(got).toMatchObject({ ok: true, state: { service: 'orders', holder: { agentId: a.id, label: 'host-a' } } });
    const token = got.state.token;
    expect(token).toBeGreaterThan(0);
    await w.event('the acquire event', (e) => e.reason === 'acquired' && e.state.token === token);
    const held = await b.ask({ op: 'acquire', name: 'nightly', ttlMs: 10_000 });
    expect(held).toMatchObject({ ok: false, code: 'MESHLET_LOCK_HELD', state: { token, holder: { agentId: a.id } } });
    expect(await a.ask({ op: 'release', name: 'nightly', token })).toMatchObject({ ok: true });
    const released = await w.event('the release event', (e) => e.reason === 'released');
    expect(released.state.holder).toBeUndefined();
    expect(released.state.revision).toBeGreaterThan(token);
  });

  it('a TTL lapse frees the lock: an expired event to the watcher and a lost event to the holder', async () => {
    const a = await agent('orders');
    const w = await agent('orders');
    await w.ask({ op: 'watch', name: 'lapse' });
    const token = (await a.ask({ op: 'acquire', name: 'lapse', ttlMs: 1_000 })).state.token;
    await w.event('the expired event', (e) => e.reason === 'expired');
    expect(await a.event('the holder told', (e) => e.lost === token)).toMatchObject({ reason: 'expired' });
    expect(await a.ask({ op: 'renew', name: 'lapse', token })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
  });

  it('tokens grow strictly across holders', async () => {
    const holders = await Promise.all([agent('orders'), agent('orders'), agent('orders')]);
    const tokens: number[] = [];
    for (let round = 0; round < 6; round++) {
      const h = holders[round % holders.length]!;
      const got = await h.ask({ op: 'acquire', name: 'fenced', ttlMs: 5_000 });
      expect(got.ok).toBe(true);
      tokens.push(got.state.token);
      await h.ask({ op: 'release', name: 'fenced', token: got.state.token });
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it('refuses an agent with no service (MESHLET_COORDINATION_REFUSED)', async () => {
    const c = await agent(undefined);
    const r = await c.ask({ op: 'acquire', name: 'nightly' });
    expect(r).toMatchObject({ ok: false, code: 'MESHLET_COORDINATION_REFUSED' });
    expect(r.message).toMatch(/no service/);
  });

  it("attack: an agent of service B can neither see, renew nor release service A's lock of the same name", async () => {
    const a = await agent('billing');
    const b = await agent('intruder');
    const token = (await a.ask({ op: 'acquire', name: 'ledger', ttlMs: 10_000 })).state.token;
    const seen = await b.ask({ op: 'get', name: 'ledger' });
    expect(seen.state).toMatchObject({ service: 'intruder', revision: 0 });
    expect(seen.state.holder).toBeUndefined();
    await b.ask({ op: 'watch', name: 'ledger' });
    expect(await b.ask({ op: 'renew', name: 'ledger', token })).toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD' });
    expect(await b.ask({ op: 'release', name: 'ledger', token })).toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD' });
    expect((await a.ask({ op: 'get', name: 'ledger' })).state).toMatchObject({ token, holder: { agentId: a.id } });
    await a.ask({ op: 'release', name: 'ledger', token });
    expect(b.events()).toEqual([]);
  });

  it("attack: instance 2 of a service cannot renew or release instance 1's lock, even with the right token", async () => {
    const one = await agent('billing', 'billing-1');
    const two = await agent('billing', 'billing-2');
    const token = (await one.ask({ op: 'acquire', name: 'payout', ttlMs: 10_000 })).state.token;
    expect(await two.ask({ op: 'renew', name: 'payout', token })).toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD' });
    expect(await two.ask({ op: 'release', name: 'payout', token })).toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD' });
    expect((await one.ask({ op: 'get', name: 'payout' })).state).toMatchObject({
      token,
      holder: { instanceId: 'billing-1' },
    });
    await one.ask({ op: 'release', name: 'payout', token });
  });

  it('attack: a coord message claiming another holder is ignored: the holder is the stream it came on', async () => {
    const victim = await agent('billing', 'billing-v');
    const mallory = await agent('billing', 'billing-m');
    const claim = { agentId: victim.id, instanceId: 'billing-v' };
    const got = await mallory.ask({ op: 'acquire', name: 'claimed', ttlMs: 10_000, holder: claim, service: 'orders' });
    expect(got.state).toMatchObject({ service: 'billing', holder: { agentId: mallory.id, instanceId: 'billing-m' } });
    await mallory.ask({ op: 'release', name: 'claimed', token: got.state.token });
  });

  it('operators list locks, a reader cannot force a release, an admin can: the holder is told and the event names the token', async () => {
    const a = await agent('reports');
    const token = (await a.ask({ op: 'acquire', name: 'monthly', ttlMs: 30_000, label: 'r1' })).state.token;
    const list = await api(cp, 'GET', '/v1/locks?service=reports', undefined, READER);
    expect(list.body.locks).toEqual([expect.objectContaining({ service: 'reports', name: 'monthly', token })]);
    expect((await api(cp, 'GET', '/v1/elections')).body).toEqual({ elections: [] });
    // attack: a reader-role token cannot force a release
    const refused = await api(cp, 'DELETE', '/v1/locks/reports/monthly', undefined, READER);
    expect(refused.status).toBe(403);
    expect((await a.ask({ op: 'get', name: 'monthly' })).state.token).toBe(token);
    const forced = await api(cp, 'DELETE', '/v1/locks/reports/monthly');
    expect(forced).toMatchObject({ status: 200, body: { released: true, lock: { token }, by: 'auth.adminToken' } });
    expect(await a.event('the holder told', (e) => e.lost === token)).toMatchObject({
      reason: 'forced',
      by: 'auth.adminToken',
    });
    const events = (await api(cp, 'GET', '/v1/events?kind=coordination&service=reports')).body;
    expect(JSON.stringify(events)).toMatch(/auth\.adminToken/);
    expect((await api(cp, 'DELETE', '/v1/locks/reports/monthly')).status).toBe(404);
    expect((await api(cp, 'DELETE', '/v1/locks/reports/bad%2Fname')).status).toBe(400);
  });

  it('meshctl get locks shows the holder, and meshctl release lock forces it free (a reader cannot)', async () => {
    const a = await agent('reports', 'reports-9');
    const token = (await a.ask({ op: 'acquire', name: 'weekly', ttlMs: 30_000, label: 'r9' })).state.token;
    const run = (token_: string, ...args: string[]) =>
      meshctl(args, { home: scratch.dir, env: { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: token_ } });
    const listed = await run(READER, 'get', 'locks', '--service', 'reports');
    expect(listed.code).toBe(0);
    expect(rowOf(listed.stdout, 'reports')).toEqual([
      'reports',
      'weekly',
      `${a.id}/reports-9 (r9)`,
      String(token),
      '30s',
    ]);
    const refused = await run(READER, 'release', 'lock', 'reports/weekly');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403|read-only/);
    const forced = await run(ADMIN, 'release', 'lock', 'reports/weekly');
    expect(forced).toMatchObject({
      code: 0,
      stdout: `lock/reports/weekly released (was held by ${a.id}/reports-9, token ${token})\n`,
    });
    expect((await run(ADMIN, 'release', 'lock', 'reports/weekly')).stderr).toMatch(/not held; see meshctl get locks/);
  });

  it("frees a holder's lock when its agent is gone past the heartbeat timeout (disconnected), and when its instance turns unhealthy", async () => {
    const gone = await agent('jobs');
    const sick = await agent('jobs');
    const w = await agent('jobs');
    await w.ask({ op: 'watch', name: 'gone' });
    await w.ask({ op: 'watch', name: 'sick' });
    await gone.ask({ op: 'acquire', name: 'gone', ttlMs: 60_000 });
    const sickToken = (await sick.ask({ op: 'acquire', name: 'sick', ttlMs: 60_000 })).state.token;
    gone.kill();
    await w.event('the disconnected release', (e) => e.reason === 'disconnected' && e.state.name === 'gone');
    sick.send({ type: 'health', status: 'unhealthy', reason: 'disk full' });
    await w.event('the unhealthy release', (e) => e.reason === 'unhealthy' && e.state.name === 'sick');
    expect(await sick.event('the holder told', (e) => e.lost === sickToken)).toMatchObject({ reason: 'unhealthy' });
  });

  it('a control-plane restart on the file store keeps a held lock and its token', async () => {
    const a = await agent('keep', 'keep-1');
    const token = (await a.ask({ op: 'acquire', name: 'survivor', ttlMs: 20_000 })).state.token;
    expect(await cp.proc.stop('SIGTERM', 8000)).toEqual({ code: 0, signal: null });
    cp = await startControlPlane(scratch, extra, cp.port);
    // The same agent comes back (a real agent reconnects by itself) within the heartbeat timeout.
    const back = await RawCoordAgent.open(cp.streamUrl, a.id, 'keep', 'keep-1', {
      joinToken: await credential('keep'),
    });
    agents.push(back);
    expect((await back.ask({ op: 'get', name: 'survivor' })).state).toMatchObject({ token, holder: { agentId: a.id } });
    expect(await back.ask({ op: 'renew', name: 'survivor', token })).toMatchObject({ ok: true, state: { token } });
    const list = await api(cp, 'GET', '/v1/locks?service=keep');
    expect(list.body.locks).toEqual([expect.objectContaining({ token })]);
    await waitFor(
      'the lock still held',
      async () => (await back.ask({ op: 'get', name: 'survivor' })).state.token === token,
    );
  });
});
