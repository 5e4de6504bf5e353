import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson } from './harness/http.js';
import { type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { frameHeader, type RawStream, rawStream } from './harness/raw-stream.js';
import { waitFor } from './harness/wait.js';

const TOKEN = 'join-5b1e7c9a03d24f68';
const HELLO_TIMEOUT_MS = 4000;
const PER_ADDRESS = 4;

/** A hello as an agent sends it, with `over` merged in. */
const hello = (agentId: string, over: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'hello', protocolVersion: 1, agentId, tableVersion: 0, service: 'web', ...over });

/** Opens the stream with `ws` from `localAddress`, sends `message`, and reports what came back until a table or a close. */
async function join(
  cp: ControlPlaneHandle,
  localAddress: string,
  message: string,
  headers: Record<string, string> = {},
): Promise<{ table: boolean; code?: number; error?: any }> {
  const ws = new WebSocket(cp.streamUrl, { localAddress, headers });
  const messages: any[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await once(ws, 'open');
  ws.send(message);
  let code: number | undefined;
  ws.on('close', (c) => {
    code = c;
  });
  await waitFor('a table or a close', () => code !== undefined || messages.some((m) => m.type === 'routes'));
  ws.terminate();
  const error = messages.find((m) => m.type === 'error');
  return { table: messages.some((m) => m.type === 'routes'), ...(code === undefined ? {} : { code }), error };
}

// Each attack comes from its own loopback address (127.0.0.x), so the per-address caps and throttles of one do not
// touch the others.
describe('the agent stream before the hello', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  beforeAll(async () => {
    cp = await mesh.controlPlane({
      auth: { joinToken: TOKEN, allowSharedJoinToken: true },
      stream: { helloTimeoutMs: HELLO_TIMEOUT_MS, maxUnauthenticatedPerAddress: PER_ADDRESS },
    });
  });

  it('refuses a 1 MiB first message from sockets that never said hello at its frame header, without waiting for it', async () => {
    const streams = await Promise.all(
      Array.from({ length: PER_ADDRESS }, () => rawStream(cp.port, { localAddress: '127.0.0.11' })),
    );
    for (const s of streams) {
      expect(s.status).toBe(101);
      // The header announces 1 MiB; only 1 KiB follows. A control plane that buffers a stranger's message waits for
      // the rest (and closes with 4001 at the hello timeout); one that checks the length refuses it at once.
      s.socket.write(Buffer.concat([frameHeader(1024 * 1024), randomBytes(1024)]));
    }
    await waitFor('every stream refused with 1009 and ended', () =>
      streams.every((s) => s.closeCode() === 1009 && s.ended()),
    );
    // Sent in full, the message meets the same end: the socket is ended, not read to the end and held for a close
    // handshake (before: buffered whole, refused, and the socket kept 30 s more).
    const full = await Promise.all(
      Array.from({ length: PER_ADDRESS }, () => rawStream(cp.port, { localAddress: '127.0.0.18' })),
    );
    for (const s of full) s.socket.write(Buffer.concat([frameHeader(1024 * 1024), randomBytes(1024 * 1024)]));
    await waitFor('every stream sent 1 MiB ended', () => full.every((s) => s.ended()));
    expect((await getJson(cp.port, '/healthz')).status).toBe('ok');
  });

  it('ends a socket that stays silent at the hello timeout, without waiting for a close handshake', async () => {
    const silent = await rawStream(cp.port, { localAddress: '127.0.0.12' });
    expect(silent.status).toBe(101);
    // The client never answers the close frame: ws would wait 30 s for it before ending the socket.
    await waitFor('the server to end the silent socket', () => silent.ended(), { timeoutMs: HELLO_TIMEOUT_MS + 8000 });
    expect(silent.closeCode()).toBe(4001);
    expect(silent.received().toString()).toContain('MESHLET_HELLO_REQUIRED');
  });

  it('refuses more unauthenticated sockets from one address than the cap, at the upgrade', async () => {
    const held: RawStream[] = [];
    for (let i = 0; i < PER_ADDRESS; i++) held.push(await rawStream(cp.port, { localAddress: '127.0.0.13' }));
    expect(held.map((s) => s.status)).toEqual(Array(PER_ADDRESS).fill(101));
    const over = await rawStream(cp.port, { localAddress: '127.0.0.13' });
    expect(over.status).toBe(503);
    expect(over.headers['retry-after']).toBe('1');
    expect(JSON.parse(over.body).error).toMatchObject({ code: 'MESHLET_TOO_MANY_UNAUTHENTICATED_STREAMS' });
    expect(JSON.parse(over.body).error.message).toContain('stream.maxUnauthenticatedPerAddress');
    // Another address, and an agent that authenticates at the upgrade, are not held back by these.
    expect((await rawStream(cp.port, { localAddress: '127.0.0.14' })).status).toBe(101);
    const agent = await join(cp, '127.0.0.13', hello('web-13'), { authorization: `Bearer ${TOKEN}` });
    expect(agent.table).toBe(true);
    // A place is given back when its socket goes.
    for (const s of held) s.socket.destroy();
    await waitFor('a place again for 127.0.0.13', async () => {
      const again = await rawStream(cp.port, { localAddress: '127.0.0.13' });
      again.socket.destroy();
      return again.status === 101;
    });
  });

  it('throttles 300 wrong join credentials in a burst, and still admits the right one from the same address', async () => {
    const statuses: number[] = [];
    let throttled: RawStream | undefined;
    for (let i = 0; i < 300; i++) {
      const s = await rawStream(cp.port, {
        localAddress: '127.0.0.15',
        headers: { authorization: `Bearer guess-${i}-${randomBytes(8).toString('hex')}` },
      });
      statuses.push(s.status);
      if (s.status === 429) throttled = s;
      s.socket.destroy();
    }
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(295);
    expect(Number(throttled?.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.parse(throttled?.body ?? '{}').error).toMatchObject({ code: 'MESHLET_TOO_MANY_JOIN_FAILURES' });
    // The right credential passes: someone else's mistakes behind the same address do not lock an agent out.
    const right = await join(cp, '127.0.0.15', hello('web-15', { joinToken: TOKEN }), {
      authorization: `Bearer ${TOKEN}`,
    });
    expect(right.table).toBe(true);
    // ...and so does an old agent's hello with the right token and no header.
    expect((await join(cp, '127.0.0.15', hello('web-15b', { joinToken: TOKEN }))).table).toBe(true);
  });

  it('throttles wrong join credentials in hellos (agents without the header) the same way, failures only', async () => {
    const codes: number[] = [];
    let last: { code?: number; error?: any } = {};
    for (let i = 0; i < 7; i++) {
      last = await join(cp, '127.0.0.16', hello(`guess-${i}`, { joinToken: `guess-${i}-wrong-token` }));
      codes.push(last.code ?? 0);
    }
    expect(codes).toEqual([4003, 4003, 4003, 4003, 4003, 4029, 4029]);
    expect(last.error).toMatchObject({ code: 'MESHLET_TOO_MANY_JOIN_FAILURES' });
    expect((await join(cp, '127.0.0.16', hello('web-16', { joinToken: TOKEN }))).table).toBe(true);
  });

  it('admits a hello that takes its credential from the upgrade, and refuses one whose own credential disagrees', async () => {
    const bearer = { authorization: `Bearer ${TOKEN}` };
    expect((await join(cp, '127.0.0.17', hello('web-17'), bearer)).table).toBe(true);
    const other = await join(cp, '127.0.0.17', hello('web-17b', { joinToken: `${TOKEN}-not` }), bearer);
    expect(other.code).toBe(4003);
    expect(other.error.message).toContain('Authorization: Bearer');
  });

  it('a real agent sends its credential at the upgrade: a wrong one is refused there, and the agent says why', async () => {
    const wrong = await mesh.agent({
      agentId: 'web-wrong',
      cp,
      service: 'web',
      joinToken: 'mjc_0123456789abcdef_' + 'x'.repeat(43),
      waitReady: false,
    });
    const closed = await waitFor('the agent to report its refusal', async () => {
      const last = (await getJson(wrong.adminPort, '/config')).controlPlane.lastClose;
      return last?.reason ? last : undefined;
    });
    expect(closed.reason).toContain('HTTP 401 MESHLET_STREAM_UNAUTHORIZED');
    expect(closed.reason).toContain('meshctl token create');
    const right = await mesh.agent({ agentId: 'web-right', cp, service: 'web', joinToken: TOKEN, waitReady: true });
    expect((await getJson(right.adminPort, '/config')).controlPlane.connected).toBe(true);
  });
});
