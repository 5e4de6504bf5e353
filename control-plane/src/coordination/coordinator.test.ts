import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Coord, createLogger, FAILOVER_ELECTION } from '@meshlet/shared';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../metrics.js';
import { FileStore } from '../store/file-store.js';
import type { CoordRelease } from './coordinator.js';
import { Coordinator } from './coordinator.js';
import { FileLockBackend } from './file-lock-backend.js';
import { FakePeer, ManualTimers } from './test-support.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function setup() {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-coord-'));
  dirs.push(d);
  const store = new FileStore(d);
  await store.open();
  const timers = new ManualTimers();
  const peers = new Map<string, FakePeer>();
  const released: CoordRelease[] = [];
  const metrics = createMetrics();
  const unhealthy = new Set<string>();
  const coordinator = new Coordinator({
    backend: new FileLockBackend({ store, clock: timers.clock, timers }),
    peerOf: (id) => peers.get(id),
    metrics,
    log: createLogger('test', 'silent'),
    clock: timers.clock,
    released: (r) => released.push(r),
    disconnectGraceMs: 3_000,
    unhealthy: (id) => unhealthy.has(id),
  });
  await coordinator.open();
  const peer = (agentId: string, service: string | undefined, instanceId = `${agentId}-i`) => {
    const p = new FakePeer({ agentId, instanceId, service });
    peers.set(agentId, p);
    return p;
  };
  let id = 0;
  const ask = async (p: FakePeer, m: Omit<Coord, 'type' | 'id' | 'kind'> & { kind?: Coord['kind'] }) => {
    const n = ++id;
    await coordinator.request(p, { type: 'coord', id: n, kind: 'lock', ...m });
    return p.result(n)!;
  };
  return { coordinator, timers, peer, ask, released, metrics, unhealthy };
}

describe('Coordinator', () => {
  it('acquire gives a token; a second acquire gets MESHLET_LOCK_HELD with the holder; release frees it for the next, with a larger token', async () => {
    const { peer, ask } = await setup();
    const a = peer('a1', 'svc');
    const b = peer('b1', 'svc');
    const got = await ask(a, { op: 'acquire', name: 'job', ttlMs: 5_000, label: 'host-a' });
    expect(got).toMatchObject({
      ok: true,
      state: { holder: { agentId: 'a1', instanceId: 'a1-i', label: 'host-a' }, ttlMs: 5_000 },
    });
    const token = got.state!.token!;
    const held = await ask(b, { op: 'acquire', name: 'job', ttlMs: 5_000 });
    expect(held).toMatchObject({ ok: false, code: 'MESHLET_LOCK_HELD', state: { token, holder: { agentId: 'a1' } } });
    expect(await ask(a, { op: 'release', name: 'job', token })).toMatchObject({ ok: true, state: {} });
    const next = await ask(b, { op: 'acquire', name: 'job', ttlMs: 5_000 });
    expect(next.state!.token).toBeGreaterThan(token);
  });

  it('defaults: a lock lasts 15 s, an election 3 s, releaseOnUnhealthy true', async () => {
    const { peer, ask } = await setup();
    const a = peer('a1', 'svc');
    expect((await ask(a, { op: 'acquire', name: 'x' })).state).toMatchObject({
      ttlMs: 15_000,
      releaseOnUnhealthy: true,
    });
    expect((await ask(a, { op: 'acquire', name: 'x', kind: 'election' })).state).toMatchObject({
      kind: 'election',
      ttlMs: 3_000,
    });
  });

  it('tells watchers of a release and of a TTL lapse (expired), and the holder that it lost its token', async () => {
    const { peer, ask, timers } = await setup();
    const a = peer('a1', 'svc');
    const w = peer('w1', 'svc');
    await ask(w, { op: 'watch', name: 'job' });
    const t1 = (await ask(a, { op: 'acquire', name: 'job', ttlMs: 2_000 })).state!.token!;
    expect(w.events().at(-1)).toMatchObject({ reason: 'acquired', state: { token: t1 } });
    await ask(a, { op: 'release', name: 'job', token: t1 });
    expect(w.events().at(-1)).toMatchObject({ reason: 'released', state: { revision: expect.any(Number) } });
    expect(w.events().at(-1)!.state.holder).toBeUndefined();
    const t2 = (await ask(a, { op: 'acquire', name: 'job', ttlMs: 2_000 })).state!.token!;
    timers.advance(2_001);
    await vi.waitFor(() => expect(w.events().at(-1)).toMatchObject({ reason: 'expired' }));
    expect(a.events().at(-1)).toMatchObject({ reason: 'expired', lost: t2 });
    expect(w.events().at(-1)!.state.revision).toBeGreaterThan(t2);
  });

  it('a renew keeps the token and moves the deadline; a renew past the lapse is MESHLET_LOCK_NOT_HELD', async () => {
    const { peer, ask, timers } = await setup();
    const a = peer('a1', 'svc');
    const t = (await ask(a, { op: 'acquire', name: 'job', ttlMs: 2_000 })).state!.token!;
    timers.advance(1_500);
    expect(await ask(a, { op: 'renew', name: 'job', token: t })).toMatchObject({ ok: true, state: { token: t } });
    timers.advance(1_500);
    expect((await ask(a, { op: 'get', name: 'job' })).state!.token).toBe(t);
    expect((await ask(a, { op: 'renew', name: 'job', token: t, ttlMs: 10_000 })).code).toBe(
      'MESHLET_COORDINATION_REFUSED',
    );
    timers.advance(2_001);
    await vi.waitFor(async () => expect((await ask(a, { op: 'get', name: 'job' })).state!.holder).toBeUndefined());
    expect(await ask(a, { op: 'renew', name: 'job', token: t })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
  });

  it('refuses an agent with no service (MESHLET_COORDINATION_REFUSED naming the fix)', async () => {
    const { peer, ask } = await setup();
    const r = await ask(peer('c1', undefined), { op: 'acquire', name: 'job' });
    expect(r).toMatchObject({ ok: false, code: 'MESHLET_COORDINATION_REFUSED' });
    expect(r.message).toMatch(/no service/);
  });

  it("attack: an agent of service B can neither see, renew nor release service A's lock of the same name", async () => {
    const { peer, ask } = await setup();
    const a = peer('a1', 'svc-a');
    const b = peer('b1', 'svc-b');
    const t = (await ask(a, { op: 'acquire', name: 'job' })).state!.token!;
    const seen = await ask(b, { op: 'get', name: 'job' });
    expect(seen.state).toMatchObject({ service: 'svc-b', revision: 0 });
    expect(seen.state!.holder).toBeUndefined();
    expect(await ask(b, { op: 'renew', name: 'job', token: t })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
    expect(await ask(b, { op: 'release', name: 'job', token: t })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
    expect((await ask(a, { op: 'get', name: 'job' })).state).toMatchObject({ token: t, holder: { agentId: 'a1' } });
  });

  it("attack: instance 2 of a service cannot renew or release instance 1's lock, even with the right token", async () => {
    const { peer, ask } = await setup();
    const one = peer('a1', 'svc', 'svc-1');
    const two = peer('a2', 'svc', 'svc-2');
    const t = (await ask(one, { op: 'acquire', name: 'job' })).state!.token!;
    expect(await ask(two, { op: 'renew', name: 'job', token: t })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
    expect(await ask(two, { op: 'release', name: 'job', token: t })).toMatchObject({
      ok: false,
      code: 'MESHLET_LOCK_NOT_HELD',
    });
    expect((await ask(one, { op: 'get', name: 'job' })).state).toMatchObject({
      token: t,
      holder: { instanceId: 'svc-1' },
    });
  });

  it("attack: a coord message claiming another holder or service is ignored: the holder is the stream's", async () => {
    const { peer, ask } = await setup();
    const mallory = peer('m1', 'svc', 'svc-m');
    const claim = { op: 'acquire', name: 'job', holder: { agentId: 'a1', instanceId: 'svc-1' }, service: 'other' };
    const r = await ask(mallory, claim as unknown as Coord);
    expect(r.state).toMatchObject({ service: 'svc', holder: { agentId: 'm1', instanceId: 'svc-m' } });
  });

  it("an operator's forced release tells the holder (forced, by) and is reported; a free lock gives undefined", async () => {
    const { coordinator, peer, ask, released } = await setup();
    const a = peer('a1', 'svc');
    const t = (await ask(a, { op: 'acquire', name: 'job' })).state!.token!;
    expect(coordinator.list('lock')).toEqual([expect.objectContaining({ service: 'svc', name: 'job', token: t })]);
    const before = await coordinator.release('lock', 'svc', 'job', { reason: 'forced', by: 'ops-alice' });
    expect(before).toMatchObject({ token: t });
    expect(a.events().at(-1)).toMatchObject({ reason: 'forced', lost: t, by: 'ops-alice' });
    expect(released).toEqual([expect.objectContaining({ reason: 'forced', by: 'ops-alice' })]);
    expect(await coordinator.release('lock', 'svc', 'job', { reason: 'forced', by: 'ops-alice' })).toBeUndefined();
    expect(coordinator.list('lock')).toEqual([]);
  });

  it('limits the rate of requests per stream', async () => {
    const { peer, ask, timers } = await setup();
    const a = peer('a1', 'svc');
    for (let i = 0; i < 400; i++) expect((await ask(a, { op: 'get', name: 'x' })).ok).toBe(true);
    const over = await ask(a, { op: 'get', name: 'x' });
    expect(over).toMatchObject({ ok: false, code: 'MESHLET_COORDINATION_REFUSED' });
    expect(over.message).toMatch(/per second/);
    expect((await ask(peer('b1', 'svc'), { op: 'get', name: 'x' })).ok).toBe(true);
    timers.advance(1_000);
    expect((await ask(a, { op: 'get', name: 'x' })).ok).toBe(true);
  });

  it("attack: an app flooding its agent's coordination API for longer than the lease gets the failover renewals refused (limit) and the term lost: the reserved election has its own bucket", async () => {
    const { peer, ask, timers } = await setup();
    const a = peer('a1', 'svc');
    const won = await ask(a, { op: 'acquire', kind: 'election', name: FAILOVER_ELECTION, ttlMs: 3_000 });
    const token = won.state!.token!;
    for (let second = 0; second < 7; second++) {
      // Sustained: the app's requests use the whole stream's rate every second, for over 2 x the lease.
      while ((await ask(a, { op: 'get', name: 'x' })).ok);
      const renewed = await ask(a, { op: 'renew', kind: 'election', name: FAILOVER_ELECTION, token, ttlMs: 3_000 });
      expect(renewed).toMatchObject({ ok: true });
      timers.advance(1_000);
    }
  });

  it('counts requests and held locks', async () => {
    const { peer, ask, metrics } = await setup();
    const a = peer('a1', 'svc');
    await ask(a, { op: 'acquire', name: 'job' });
    await ask(a, { op: 'acquire', name: 'job' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/meshlet_cp_coordination_requests_total\{op="acquire",result="ok"\} 1/);
    expect(text).toMatch(/meshlet_cp_coordination_requests_total\{op="acquire",result="MESHLET_LOCK_HELD"\} 1/);
    expect(text).toMatch(/meshlet_cp_locks_held\{kind="lock"\} 1/);
  });

  it('a granted acquire and renew carry disconnectGraceMs (heartbeat.timeoutMs), for the agent to tell its app lost in time', async () => {
    const { peer, ask } = await setup();
    const a = peer('a1', 'svc');
    const got = await ask(a, { op: 'acquire', name: 'job' });
    expect(got).toMatchObject({ ok: true, disconnectGraceMs: 3_000 });
    const token = got.state!.token!;
    expect(await ask(a, { op: 'renew', name: 'job', token })).toMatchObject({ ok: true, disconnectGraceMs: 3_000 });
    expect((await ask(a, { op: 'get', name: 'job' })).disconnectGraceMs).toBeUndefined();
  });

  it('every MESHLET_COORDINATION_REFUSED says why (refusal), for the agent to map it to a status', async () => {
    const { peer, ask } = await setup();
    expect(await ask(peer('c1', undefined), { op: 'get', name: 'job' })).toMatchObject({ refusal: 'no-service' });
    const a = peer('a1', 'svc');
    const token = (await ask(a, { op: 'acquire', name: 'job', ttlMs: 2_000 })).state!.token!;
    expect(await ask(a, { op: 'renew', name: 'job', token, ttlMs: 9_000 })).toMatchObject({ refusal: 'request' });
    expect(await ask(a, { op: 'release', name: 'job' })).toMatchObject({ refusal: 'request' });
    for (let i = 0; i < 400; i++) await ask(a, { op: 'get', name: 'x' });
    expect(await ask(a, { op: 'get', name: 'x' })).toMatchObject({ refusal: 'limit' });
  });

  it('attack: an instance freed for being unhealthy campaigns again at once: refused while it is unhealthy', async () => {
    const { coordinator, peer, ask, unhealthy } = await setup();
    const a = peer('a1', 'svc');
    expect(await ask(a, { op: 'acquire', name: 'lead', kind: 'election' })).toMatchObject({ ok: true });
    unhealthy.add('a1-i');
    await coordinator.release('election', 'svc', 'lead', { reason: 'unhealthy' });
    const again = await ask(a, { op: 'acquire', name: 'lead', kind: 'election' });
    expect(again).toMatchObject({ ok: false, code: 'MESHLET_COORDINATION_REFUSED', refusal: 'unhealthy' });
    expect(again.message).toMatch(/unhealthy/);
    // Without releaseOnUnhealthy the health engine would not free it: allowed.
    expect(await ask(a, { op: 'acquire', name: 'lead', kind: 'election', releaseOnUnhealthy: false })).toMatchObject({
      ok: true,
    });
    unhealthy.delete('a1-i');
    expect(await ask(peer('b1', 'svc'), { op: 'acquire', name: 'other' })).toMatchObject({ ok: true });
  });
});
