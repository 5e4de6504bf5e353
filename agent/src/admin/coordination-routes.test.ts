import { request as httpRequest, type IncomingMessage } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordination } from '../coordination/coordination.js';
import type { CoordStandIn } from '../coordination/test-support/coord-stand-in.js';
import { startCoordAdmin } from '../coordination/test-support/coord-admin.js';
import { until } from '../listener/test-support/loopback.js';

// The app's coordination API on a real admin listener (loopback sockets),
// with the control plane's side played by the in-process stand-in.

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string; field?: string } };
}

const never = new AbortController().signal;
let standIn: CoordStandIn;
let app: FastifyInstance;
let port = 0;
afterEach(async () => {
  await app.close();
  standIn.close();
});

async function start(host = '127.0.0.1', maxOpenRequests?: number): Promise<Coordination> {
  const started = await startCoordAdmin(host, maxOpenRequests);
  ({ standIn, app, port } = started);
  return started.coordination;
}

/** One request from `from` (a local address to connect from) to the admin listener at `to`. */
function call(
  method: string,
  path: string,
  body?: unknown,
  opts: { from?: string; to?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: opts.to ?? '127.0.0.1',
        port,
        method,
        path,
        ...(opts.from ? { localAddress: opts.from } : {}),
        headers: {
          ...(body === undefined ? { 'x-meshlet-request': '1' } : { 'content-type': 'application/json' }),
          ...opts.headers,
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Opens an events stream; `events` fills as they come. */
async function events(path: string): Promise<{
  events: Array<{ event: string; data: Record<string, unknown> }>;
  res: IncomingMessage;
  close: () => void;
}> {
  const out: Array<{ event: string; data: Record<string, unknown> }> = [];
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, resolve);
    req.on('error', reject);
    req.end();
  });
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => {
    buf += c;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) out.push({ event, data: JSON.parse(data) as Record<string, unknown> });
    }
  });
  return { events: out, res, close: () => res.destroy() };
}

describe('the app lock API on the admin listener', () => {
  it('acquires, refuses a second acquire with 409 naming the holder, renews and releases', async () => {
    await start();
    const got = await call('POST', '/v1/locks/report', { ttlMs: 10_000, label: 'worker-1' });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      name: 'report',
      service: 'orders',
      ttlMs: 10_000,
      holder: { agentId: 'a1', label: 'worker-1' },
    });
    const token = got.body.token as number;
    expect(got.body.expiresAt).toBeGreaterThan(Date.now());
    const again = await call('POST', '/v1/locks/report', {});
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'MESHLET_LOCK_HELD', holder: { agentId: 'a1' }, token });
    const renewed = await call('PUT', '/v1/locks/report', { token });
    expect(renewed.status).toBe(200);
    expect(renewed.body).toMatchObject({ token, ttlMs: 10_000 });
    expect((await call('PUT', '/v1/locks/report', { token: token + 100 })).body.error?.code).toBe(
      'MESHLET_LOCK_NOT_HELD',
    );
    expect(await call('DELETE', `/v1/locks/report?token=${token}`)).toMatchObject({
      status: 200,
      body: { released: true },
    });
    const gone = await call('DELETE', `/v1/locks/report?token=${token}`);
    expect(gone).toMatchObject({ status: 409, body: { error: { code: 'MESHLET_LOCK_NOT_HELD' } } });
  });

  it('refuses a bad body with 400 naming the field and the fix', async () => {
    await start();
    const short = await call('POST', '/v1/locks/report', { ttlMs: 5 });
    expect(short.status).toBe(400);
    expect(short.body.error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', field: 'ttlMs' });
    expect(short.body.error?.message).toMatch(/field "ttlMs" must be >= 1000: use a TTL from 1000 ms/);
    const unknown = await call('POST', '/v1/locks/report', { ttl: 5000 });
    expect(unknown.body.error).toMatchObject({ field: 'ttl' });
    const wait = await call('POST', '/v1/locks/report', { waitMs: 400_000 });
    expect(wait.body.error?.message).toMatch(/"waitMs" must be <= 300000/);
    const name = await call('POST', '/v1/locks/bad%20name', {});
    expect(name.body.error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', field: 'name' });
    const long = 'n'.repeat(128);
    expect((await call('POST', `/v1/locks/${long}`, {})).status).toBe(200);
    const tooLong = await call('POST', `/v1/locks/${long}x`, {});
    expect(tooLong.body.error).toMatchObject({ code: 'MESHLET_BAD_REQUEST', field: 'name' });
    const noToken = await call('DELETE', '/v1/locks/report');
    expect(noToken.body.error).toMatchObject({ field: 'token' });
  });

  it('answers 503 at once when the agent has no stream to the control plane', async () => {
    await start();
    standIn.drop('a1');
    const r = await call('POST', '/v1/locks/report', {});
    expect(r.status).toBe(503);
    expect(r.body.error?.code).toBe('MESHLET_COORDINATION_UNAVAILABLE');
    expect((await call('GET', '/v1/locks/report')).status).toBe(503);
  });

  it('a long-poll answers when the lock is released; a waiting acquire gets it after the release', async () => {
    await start();
    const other = standIn.attach('b1');
    const held = await other.leases.acquire(
      'lock',
      'report',
      { ttlMs: 60_000, waitMs: 0 },
      new AbortController().signal,
    );
    if (!held.ok) throw new Error('refused');
    const now = await call('GET', '/v1/locks/report');
    expect(now.body).toMatchObject({ holder: { agentId: 'b1' }, token: held.grant.token });
    const poll = call('GET', `/v1/locks/report?index=${now.body.revision as number}&waitMs=30000`);
    const waiting = call('POST', '/v1/locks/report', { waitMs: 30_000 });
    await until(() => standIn.received.filter((m) => m.agentId === 'a1' && m.op === 'acquire').length === 1, 'acquire');
    await other.leases.release('lock', 'report', held.grant.token);
    const changed = await poll;
    expect(changed.body.revision).toBeGreaterThan(now.body.revision as number);
    const won = await waiting;
    expect(won.status).toBe(200);
    expect(won.body.token).toBeGreaterThan(held.grant.token);
  });

  it('streams state first, then lost when the TTL lapses', async () => {
    await start();
    const got = await call('POST', '/v1/locks/report', { ttlMs: 60_000 });
    const s = await events('/v1/locks/report/events');
    await until(() => s.events.length >= 1, 'first state');
    expect(s.events[0]).toMatchObject({ event: 'state', data: { token: got.body.token } });
    standIn.free('lock', 'report', 'expired');
    await until(() => s.events.some((e) => e.event === 'lost'), 'lost');
    expect(s.events.find((e) => e.event === 'lost')?.data).toEqual({ token: got.body.token, reason: 'expired' });
    expect(s.events.at(-1)).toMatchObject({ event: 'state', data: { reason: 'expired' } });
    s.close();
  });

  it('tells the holder doubt on its events stream when the stream drops, and restored when it is back', async () => {
    await start();
    await call('POST', '/v1/locks/report', { ttlMs: 60_000 });
    const s = await events('/v1/locks/report/events');
    await until(() => s.events.length >= 1, 'first state');
    standIn.drop('a1');
    await until(() => s.events.some((e) => e.event === 'doubt'), 'doubt');
    standIn.connect('a1');
    await until(() => s.events.some((e) => e.event === 'restored'), 'restored');
    s.close();
  });

  it('the agent stopping ends the events streams and the long-polls, so its admin listener closes', async () => {
    const coordination = await start();
    const s = await events('/v1/locks/report/events');
    await until(() => s.events.length >= 1, 'first state');
    const poll = call('GET', '/v1/locks/report?index=1000&waitMs=60000');
    await until(() => coordination.openRequests.open === 2, 'both open');
    coordination.close();
    expect((await poll).status).toBe(503);
    await app.close();
    await new Promise((r) => (s.res.complete ? r(undefined) : s.res.on('end', r)));
  });

  it('refuses an open request past the limit with 429 MESHLET_COORDINATION_BUSY', async () => {
    await start('127.0.0.1', 1);
    const s = await events('/v1/locks/a/events');
    await until(() => s.events.length >= 1, 'first state');
    const r = await call('GET', '/v1/locks/b?index=0&waitMs=1000');
    expect(r.status).toBe(429);
    expect(r.body.error?.code).toBe('MESHLET_COORDINATION_BUSY');
    s.close();
  });
});

describe('the app election API on the admin listener', () => {
  it('a campaign blocks while another leads, then wins with a higher term when it resigns', async () => {
    await start();
    const other = standIn.attach('b1');
    const lead = await other.leases.acquire(
      'election',
      'primary',
      { ttlMs: 60_000, waitMs: 0 },
      new AbortController().signal,
    );
    if (!lead.ok) throw new Error('refused');
    const campaign = call('POST', '/v1/elections/primary/campaign', { label: 'me' });
    await until(() => standIn.received.some((m) => m.agentId === 'a1' && m.op === 'acquire'), 'campaigning');
    const view = await call('GET', '/v1/elections/primary');
    expect(view.body).toMatchObject({ leader: { agentId: 'b1' }, term: lead.grant.token });
    await other.leases.release('election', 'primary', lead.grant.token);
    const won = await campaign;
    expect(won.status).toBe(200);
    expect(won.body).toMatchObject({ name: 'primary', leader: { agentId: 'a1', label: 'me' }, ttlMs: 3000 });
    expect(won.body.term).toBeGreaterThan(lead.grant.token);
    const renewed = await call('PUT', '/v1/elections/primary', { term: won.body.term });
    expect(renewed.body).toMatchObject({ term: won.body.term });
    expect((await call('DELETE', `/v1/elections/primary?term=${won.body.term as number}`)).body).toEqual({
      resigned: true,
    });
  });

  it('the app closing a campaign cancels it: the agent stops asking', async () => {
    await start();
    const other = standIn.attach('b1');
    const lead = await other.leases.acquire(
      'election',
      'primary',
      { ttlMs: 60_000, waitMs: 0 },
      new AbortController().signal,
    );
    if (!lead.ok) throw new Error('refused');
    const ac = new AbortController();
    const campaign = call('POST', '/v1/elections/primary/campaign', {}, { signal: ac.signal }).catch(() => 'closed');
    await until(() => standIn.received.some((m) => m.agentId === 'a1' && m.op === 'acquire'), 'campaigning');
    ac.abort();
    expect(await campaign).toBe('closed');
    // The agent sees the close when its socket does: its watch ends with the campaign.
    await until(() => standIn.received.some((m) => m.agentId === 'a1' && m.op === 'unwatch'), 'cancelled');
    await other.leases.release('election', 'primary', lead.grant.token);
    const state = await call('GET', '/v1/elections/primary');
    expect(state.body.leader).toBeNull();
    expect(standIn.received.filter((m) => m.agentId === 'a1' && m.op === 'acquire')).toHaveLength(1);
  });
});

/** The machine's first address that is not loopback, if it has one. */
function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  return undefined;
}

describe('coordination answers the app on the agent host only', () => {
  it('attack: a peer that is not the app (127.0.0.2, or the host address) takes a lock on an admin listener bound to 0.0.0.0', async () => {
    await start('0.0.0.0');
    const r = await call('POST', '/v1/locks/report', {}, { from: '127.0.0.2' });
    expect(r.status).toBe(403);
    expect(r.body.error?.code).toBe('MESHLET_COORDINATION_FORBIDDEN');
    expect(r.body.error?.message).toMatch(/only the app on the agent's host, connecting from 127\.0\.0\.1 or ::1/);
    const outside = outsideAddress();
    if (outside !== undefined) {
      const o = await call('POST', '/v1/locks/report', {}, { from: outside, to: outside });
      expect(o.status).toBe(403);
    }
    expect(standIn.received.filter((m) => m.op === 'acquire')).toEqual([]);
    // The app itself still can.
    expect((await call('POST', '/v1/locks/report', {})).status).toBe(200);
  });

  it('attack: a percent-encoded path (/v1/%6cocks, /%761/locks, /v1/%65lections) takes, reads and releases a lock from a peer that is not the app', async () => {
    const coordination = await start('0.0.0.0');
    const held = await coordination.leases.acquire('lock', 'report', { ttlMs: 60_000, waitMs: 0 }, never);
    if (!held.ok) throw new Error('refused');
    const from = { from: '127.0.0.2' };
    const attempts: Array<[string, string, unknown]> = [
      ['POST', '/v1/%6cocks/taken', {}],
      ['POST', '/%761/locks/taken', {}],
      ['POST', '/v1/%65lections/taken/campaign', {}],
      ['GET', '/v1/%6cocks/report', undefined],
      ['GET', '/v1/%6cocks/report/events', undefined],
      ['PUT', '/v1/%6cocks/report', { token: held.grant.token }],
      ['DELETE', `/v1/%6cocks/report?token=${held.grant.token}`, undefined],
      ['DELETE', `/v1/%65lections/report?term=${held.grant.token}`, undefined],
    ];
    for (const [method, path, body] of attempts) {
      const r = await call(method, path, body, from);
      expect({ method, path, status: r.status, code: r.body.error?.code }).toEqual({
        method,
        path,
        status: 403,
        code: 'MESHLET_COORDINATION_FORBIDDEN',
      });
    }
    const asked = standIn.received.filter((m) => m.op !== 'watch' && m.op !== 'unwatch').map((m) => m.op);
    expect(asked).toEqual(['acquire']); // the holder's own; nothing from the peer
    // The app itself may spell the path as it likes: the router decodes it.
    const mine = await call('GET', '/v1/%6cocks/report');
    expect(mine.body).toMatchObject({ token: held.grant.token });
  });

  it('attack: a web page of another site acquires a lock or holds an events stream through the operator browser', async () => {
    await start();
    const post = await call('POST', '/v1/locks/report', {}, { headers: { origin: 'https://evil.example' } });
    expect(post.status).toBe(403);
    expect(post.body.error?.code).toBe('MESHLET_CROSS_SITE_REQUEST');
    const read = await call('GET', '/v1/locks/report/events', undefined, {
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(read.status).toBe(403);
    expect(read.body.error?.code).toBe('MESHLET_CROSS_SITE_REQUEST');
    expect(standIn.received.filter((m) => m.op === 'acquire' || m.op === 'watch')).toEqual([]);
  });
});
