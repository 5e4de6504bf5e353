import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../listener/test-support/loopback.js';
import type { CoordNotice } from './coord-feed.js';
import { WaitCancelled } from './lease-service.js';
import { CoordStandIn } from './test-support/coord-stand-in.js';

// Leases through the agent against the in-process stand-in: the lease counted
// from when the request was sent, waiting for a release, cancelling, and what
// a holder is told when its stream drops and comes back.

let standIn: CoordStandIn;
afterEach(() => standIn.close());

const never = new AbortController().signal;

describe('LeaseService and CoordFeed', () => {
  it('counts the lease from when the acquire was SENT, so the agent view ends before the store', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const before = Date.now();
    const out = await a.leases.acquire('lock', 'x', { ttlMs: 5000, waitMs: 0 }, never);
    const after = Date.now();
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.grant.expiresAt).toBeGreaterThanOrEqual(before + 5000);
    expect(out.grant.expiresAt).toBeLessThanOrEqual(after + 5000);
    expect(a.feed.held.get('lock', 'x')?.token).toBe(out.grant.token);
  });

  it('a waiting acquire asks again on the release event and gets the lock, with a higher token', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const b = standIn.attach('b1');
    const first = await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    if (!first.ok) throw new Error('first acquire refused');
    const waiting = b.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 30_000 }, never);
    await until(() => standIn.received.filter((m) => m.agentId === 'b1' && m.op === 'acquire').length === 1, 'b asked');
    await a.leases.release('lock', 'x', first.grant.token);
    const second = await waiting;
    expect(second.ok && second.grant.token).toBeGreaterThan(first.grant.token);
  });

  it('answers held (with the holder) when the wait ends', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const b = standIn.attach('b1');
    await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    const out = await b.leases.acquire('lock', 'x', { ttlMs: 3000, waitMs: 150 }, never);
    expect(out).toMatchObject({ ok: false, state: { holder: { agentId: 'a1' } } });
  });

  it('a waiting acquire refused while its instance is unhealthy waits on, and wins once it is healthy; without a wait: 503', async () => {
    standIn = new CoordStandIn();
    const b = standIn.attach('b1');
    standIn.unhealthy.add('b1');
    await expect(b.leases.acquire('lock', 'x', { ttlMs: 3000, waitMs: 0 }, never)).rejects.toMatchObject({
      statusCode: 503,
    });
    const waiting = b.leases.acquire('lock', 'x', { ttlMs: 3000, waitMs: 30_000 }, never);
    await until(() => standIn.received.filter((m) => m.agentId === 'b1' && m.op === 'acquire').length >= 2, 'b asked');
    standIn.unhealthy.delete('b1');
    const out = await waiting;
    expect(out.ok).toBe(true);
  });

  it('a cancelled wait that wins after the app went away gives the lock back', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const b = standIn.attach('b1');
    const first = await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    if (!first.ok) throw new Error('first acquire refused');
    const ac = new AbortController();
    const waiting = b.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 30_000 }, ac.signal);
    await until(() => standIn.received.some((m) => m.agentId === 'b1' && m.op === 'acquire'), 'b asked');
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(WaitCancelled);
    const state = await a.leases.get('lock', 'x');
    expect(state.holder?.agentId).toBe('a1');
  });

  it('an app that leaves while a refused try is on its way ends the wait at once (not at the backstop)', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const b = standIn.attach('b1');
    await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    const ac = new AbortController();
    const waiting = b.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 60_000 }, ac.signal);
    ac.abort(); // the first try is already on its way, and is refused
    await expect(waiting).rejects.toBeInstanceOf(WaitCancelled);
  });

  it('a campaign won just after the app went away is resigned at once', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const ac = new AbortController();
    const won = a.leases.acquire('election', 'primary', { ttlMs: 3000, waitMs: 60_000 }, ac.signal);
    ac.abort(); // the acquire is already on its way
    await expect(won).rejects.toBeInstanceOf(WaitCancelled);
    expect(standIn.received.map((m) => m.op)).toContain('release');
    expect((await a.leases.get('election', 'primary')).holder).toBeUndefined();
  });

  it('a waiting acquire and a long-poll fail with 503 at once when the stream drops (never a stale answer)', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const b = standIn.attach('b1');
    await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    const waiting = b.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 60_000 }, never);
    const poll = b.leases.waitForChange('lock', 'x', 1_000_000, 60_000, never);
    await until(() => standIn.received.filter((m) => m.agentId === 'b1' && m.op === 'get').length === 1, 'b polls');
    standIn.drop('b1');
    await expect(waiting).rejects.toMatchObject({ statusCode: 503, code: 'MESHLET_COORDINATION_UNAVAILABLE' });
    await expect(poll).rejects.toMatchObject({ statusCode: 503, code: 'MESHLET_COORDINATION_UNAVAILABLE' });
  });

  it('tells the holder doubt when the stream drops, restored when it is back, then lost if the lock went meanwhile', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const got = await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    if (!got.ok) throw new Error('refused');
    const notices: CoordNotice[] = [];
    const stop = a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    standIn.drop('a1');
    expect(notices.map((n) => n.type)).toEqual(['doubt']);
    await expect(a.leases.renew('lock', 'x', got.grant.token, undefined)).rejects.toMatchObject({ statusCode: 503 });
    standIn.free('lock', 'x', 'disconnected'); // the control plane gave it up while the agent was away
    standIn.connect('a1');
    await until(() => notices.some((n) => n.type === 'lost'), 'lost');
    expect(notices.map((n) => n.type).slice(0, 3)).toEqual(['doubt', 'restored', 'lost']);
    expect(a.feed.held.get('lock', 'x')).toBeUndefined();
    stop();
  });

  it('tells the holder lost, with the reason, when the control plane says its TTL lapsed', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const got = await a.leases.acquire('lock', 'x', { ttlMs: 1000, waitMs: 0 }, never);
    if (!got.ok) throw new Error('refused');
    const notices: CoordNotice[] = [];
    a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    await until(() => notices.some((n) => n.type === 'lost'), 'lost', 5000);
    expect(notices.find((n) => n.type === 'lost')).toMatchObject({ token: got.grant.token, reason: 'expired' });
  });

  it('tells the holder lost at the end of the lease as it counts it, when the control plane cannot say so', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const got = await a.leases.acquire('lock', 'x', { ttlMs: 1000, waitMs: 0 }, never);
    if (!got.ok) throw new Error('refused');
    const notices: CoordNotice[] = [];
    a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    standIn.drop('a1');
    await until(() => notices.some((n) => n.type === 'lost'), 'lost', 5000);
    expect(notices.map((n) => n.type)).toEqual(['doubt', 'lost']);
    // Lost stays lost: back on a stream, its renewal is refused without asking the control plane.
    standIn.connect('a1');
    await expect(a.leases.renew('lock', 'x', got.grant.token, undefined)).rejects.toMatchObject({
      code: 'MESHLET_LOCK_NOT_HELD',
      statusCode: 409,
    });
    expect(standIn.received.filter((m) => m.op === 'renew')).toEqual([]);
  });

  it('a renewal answered after the lease ended as the agent counts it does not bring it back: 409, and released with its token', async () => {
    standIn = new CoordStandIn();
    const a = standIn.attach('a1');
    const got = await a.leases.acquire('lock', 'x', { ttlMs: 1000, waitMs: 0 }, never);
    if (!got.ok) throw new Error('refused');
    const token = got.grant.token;
    const notices: CoordNotice[] = [];
    a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    standIn.silent = true; // the renewal stays in flight
    const renewal = a.leases.renew('lock', 'x', token, undefined);
    await until(() => notices.some((n) => n.type === 'lost'), 'lost at the end of the lease', 4000);
    const sent = standIn.received.find((m) => m.op === 'renew')!;
    standIn.silent = false;
    // The control plane renewed it (its lease counts from when it wrote): the answer lands after the app was told.
    a.onMessage({
      type: 'coordResult',
      id: sent.id,
      ok: true,
      state: {
        kind: 'lock',
        service: 'orders',
        name: 'x',
        holder: { agentId: 'a1', instanceId: 'a1-i' },
        token,
        ttlMs: 1000,
        revision: token,
      },
    });
    await expect(renewal).rejects.toMatchObject({ code: 'MESHLET_LOCK_NOT_HELD', statusCode: 409 });
    expect(a.feed.held.get('lock', 'x')).toBeUndefined();
    await until(() => standIn.received.some((m) => m.op === 'release' && m.token === token), 'given back');
  });

  it('tells the holder lost (disconnected) when its stream stays down past the control plane disconnectGraceMs; a lease that ends first is lost as expired', async () => {
    standIn = new CoordStandIn();
    standIn.disconnectGraceMs = 1500;
    const a = standIn.attach('a1');
    const x = await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    const y = await a.leases.acquire('lock', 'y', { ttlMs: 1000, waitMs: 0 }, never);
    if (!x.ok || !y.ok) throw new Error('refused');
    const notices: CoordNotice[] = [];
    a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    a.feed.subscribe('lock', 'y', (n) => notices.push(n));
    standIn.drop('a1');
    await until(() => notices.filter((n) => n.type === 'lost').length === 2, 'both lost', 4000);
    expect(notices.filter((n) => n.type === 'lost')).toEqual([
      { type: 'lost', token: y.grant.token, reason: 'expired' },
      { type: 'lost', token: x.grant.token, reason: 'disconnected' },
    ]);
    // Lost stays lost: back on a stream (the control plane still holding it or not), its renewal is refused here.
    standIn.connect('a1');
    await expect(a.leases.renew('lock', 'x', x.grant.token, undefined)).rejects.toMatchObject({
      code: 'MESHLET_LOCK_NOT_HELD',
      message: expect.stringMatching(/disconnected/),
    });
    expect(standIn.received.filter((m) => m.op === 'renew')).toEqual([]);
    // The store kept it (a control plane restarted gives holders a grace of its own): the agent gives it back.
    await until(() => standIn.entries.get('lock/x')?.state.holder === undefined, 'x released on the new stream');
    expect(standIn.received.filter((m) => m.op === 'release').map((m) => m.token)).toContain(x.grant.token);
  });

  it('a stream back before disconnectGraceMs keeps the lease (renewed on the new stream)', async () => {
    standIn = new CoordStandIn();
    standIn.disconnectGraceMs = 200;
    const a = standIn.attach('a1');
    const x = await a.leases.acquire('lock', 'x', { ttlMs: 60_000, waitMs: 0 }, never);
    const z = await a.leases.acquire('lock', 'z', { ttlMs: 1000, waitMs: 0 }, never);
    if (!x.ok || !z.ok) throw new Error('refused');
    const notices: CoordNotice[] = [];
    a.feed.subscribe('lock', 'x', (n) => notices.push(n));
    a.feed.subscribe('lock', 'z', (n) => notices.push(n));
    standIn.drop('a1');
    standIn.connect('a1');
    // z's lease ends well past the grace counted from the drop: by then a grace still running would have fired.
    await until(() => notices.some((n) => n.type === 'lost'), 'z lost at the end of its lease', 4000);
    expect(notices.filter((n) => n.type === 'lost')).toEqual([
      { type: 'lost', token: z.grant.token, reason: 'expired' },
    ]);
    expect((await a.leases.renew('lock', 'x', x.grant.token, undefined)).token).toBe(x.grant.token);
  });
});
