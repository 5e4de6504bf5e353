import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { backoffDelay, createLogger } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { ControlClient, type ControlClientOptions } from './control-client.js';
import { until } from '../listener/test-support/loopback.js';

// The client's walk over several control-plane URLs, against bare WebSocket
// servers on loopback: which URL each attempt goes to, the jittered backoff
// between attempts (random and clock injected), and the hello's resume version.

interface Replica {
  url: string;
  wss: WebSocketServer;
  hellos: Array<Record<string, unknown>>;
  sockets: WebSocket[];
  /** When set, closes every new stream with this code and reason right after its hello. */
  refuse?: { code: number; reason: string };
}

const servers: WebSocketServer[] = [];
const clients: ControlClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function replica(): Promise<Replica> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  servers.push(wss);
  await once(wss, 'listening');
  const r: Replica = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/stream`,
    wss,
    hellos: [],
    sockets: [],
  };
  wss.on('connection', (ws) => {
    r.sockets.push(ws);
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as Record<string, unknown>;
      if (m.type !== 'hello') return;
      r.hellos.push(m);
      if (r.refuse) ws.close(r.refuse.code, r.refuse.reason);
    });
  });
  return r;
}

/** A loopback URL where nothing listens: connecting fails at once. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `ws://127.0.0.1:${port}/v1/stream`;
}

function start(
  urls: string[],
  o: Partial<ControlClientOptions> = {},
): { client: ControlClient; logs: Array<Record<string, any>> } {
  const logs: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, any>);
      done();
    },
  });
  const client = new ControlClient({
    urls,
    agentId: 'agent-1',
    joinToken: undefined,
    instance: () => undefined,
    // Long enough never to fire during a test: the injected clock jumps.
    heartbeatIntervalMs: 60_000,
    reconnectInitialDelayMs: 40,
    reconnectMaxDelayMs: 160,
    maxMessageBytes: 1 << 20,
    log: createLogger('test', 'debug', sink),
    random: () => 0,
    clock: Date.now,
    tableVersion: () => 7,
    health: () => undefined,
    upstreams: () => [],
    applyRoutes: () => ({ ok: true }),
    ...o,
  });
  clients.push(client);
  client.start();
  return { client, logs };
}

const moves = (logs: Array<Record<string, any>>) =>
  logs.filter((l) => l.msg === 'moving to the next control-plane URL').map((l) => [l.from, l.to]);

describe('ControlClient over several control-plane URLs', () => {
  it("builds the hello's instance with the local address of the stream (what the control plane sees it connect from)", async () => {
    const r = await replica();
    const seen: Array<string | undefined> = [];
    start([r.url], {
      instance: (streamLocal) => {
        seen.push(streamLocal);
        return undefined;
      },
    });
    await until(() => r.hellos.length === 1, 'a hello');
    expect(seen).toEqual(['127.0.0.1']);
  });

  it('starts at the URL the random source picks', async () => {
    const [a, b] = [await replica(), await replica()];
    const { client } = start([a.url, b.url], { random: () => 0.75 });
    await until(() => b.hellos.length === 1, 'a hello at the second replica');
    expect(client.url).toBe(b.url);
    expect(client.urls).toEqual([a.url, b.url]);
    expect(a.hellos).toHaveLength(0);
  });

  it('moves to the next URL when the stream closes, resuming at the version it holds, and logs both URLs', async () => {
    const [a, b] = [await replica(), await replica()];
    const { client, logs } = start([a.url, b.url]);
    await until(() => a.hellos.length === 1, 'a hello at the first replica');
    expect(a.hellos[0]).toMatchObject({ type: 'hello', agentId: 'agent-1', tableVersion: 7 });
    a.sockets[0]?.terminate();
    await until(() => b.hellos.length === 1, 'a hello at the second replica');
    expect(b.hellos[0]).toMatchObject({ type: 'hello', tableVersion: 7 });
    expect(client.url).toBe(b.url);
    expect(moves(logs)).toEqual([[a.url, b.url]]);
    const move = logs.find((l) => l.msg === 'moving to the next control-plane URL');
    expect(move?.level).toBe(40); // warn
    // And back to the first once the second goes too: the list wraps around.
    b.sockets[0]?.terminate();
    await until(() => a.hellos.length === 2, 'a second hello at the first replica');
    expect(moves(logs)).toEqual([
      [a.url, b.url],
      [b.url, a.url],
    ]);
  });

  it('moves on past a URL where nothing listens', async () => {
    const dead = await deadUrl();
    const b = await replica();
    const { client, logs } = start([dead, b.url]);
    await until(() => client.connected, 'a stream');
    expect(client.url).toBe(b.url);
    expect(moves(logs)).toEqual([[dead, b.url]]);
  });

  it('moves on past a replica that refuses with a terminal reason (join token, protocol version)', async () => {
    const [a, b, c] = [await replica(), await replica(), await replica()];
    a.refuse = { code: 4001, reason: 'join token invalid' };
    b.refuse = { code: 4002, reason: 'protocol version mismatch' };
    const { client, logs } = start([a.url, b.url, c.url]);
    await until(() => c.hellos.length === 1 && client.connected, 'a stream to the third replica');
    expect([a.hellos.length, b.hellos.length]).toEqual([1, 1]);
    expect(moves(logs)).toEqual([
      [a.url, b.url],
      [b.url, c.url],
    ]);
    expect(logs.find((l) => l.reason === 'join token invalid')).toMatchObject({ url: a.url, code: 4001 });
  });

  it('waits a jittered, doubling delay between attempts, capped, and starts over after a stream that stayed up', async () => {
    const live = await replica();
    const dead = await deadUrl();
    let now = 1_000_000;
    const random = () => 0.5;
    // random 0.5 of two URLs starts at index 1: the dead one.
    const { client, logs } = start([live.url, dead], { random, clock: () => now });
    const retries = () =>
      logs.filter((l) => l.retryInMs !== undefined && l.msg !== 'moving to the next control-plane URL');
    const opts = { initialMs: 40, maxMs: 160 };
    // dead fails (attempt 0), live opens and is closed at once (1), dead fails (2), live opens (3).
    await until(() => live.hellos.length === 1, 'the first stream');
    live.sockets[0]?.terminate();
    await until(() => live.hellos.length === 2, 'the second stream');
    expect(retries().map((l) => [l.url, l.retryInMs])).toEqual([
      [dead, backoffDelay(0, opts, random)],
      [live.url, backoffDelay(1, opts, random)],
      [dead, backoffDelay(2, opts, random)],
    ]);
    expect(retries().map((l) => l.retryInMs)).toEqual([20, 40, 80]);
    // This stream stays up longer than the backoff cap: its close starts the backoff over.
    now += 10_000;
    live.sockets[1]?.terminate();
    await until(() => retries().length === 5, 'two more attempts');
    expect(
      retries()
        .slice(3)
        .map((l) => [l.url, l.retryInMs]),
    ).toEqual([
      [live.url, 20],
      [dead, 40],
    ]);
    // A long run of failures is capped at reconnectMaxDelayMs.
    live.refuse = { code: 4001, reason: 'join token invalid' };
    await until(() => retries().length >= 9, 'more attempts');
    expect(
      retries()
        .slice(5, 9)
        .map((l) => l.retryInMs),
    ).toEqual([80, 80, 80, 80]);
    expect(client.urls).toEqual([live.url, dead]);
  });
});

describe('ControlClient and workload certificates', () => {
  it('a certificate handler that rejects (a listener threw) is logged, and the agent and its stream stay up', async () => {
    const r = await replica();
    let rejected = 0;
    const { client, logs } = start([r.url], {
      certificates: {
        onIdentity: () => undefined,
        onCertificate: async () => {
          rejected += 1;
          throw new Error('createSecureContext: bad key');
        },
        onError: () => undefined,
        onDisconnect: () => undefined,
      },
    });
    await until(() => r.sockets.length === 1 && r.hellos.length === 1, 'a hello');
    r.sockets[0]!.send(JSON.stringify({ type: 'certificate', certChainPem: 'x', trustBundlePem: 'y', notAfter: 1 }));
    await until(() => logs.some((l) => l.msg?.startsWith('could not install the certificate')), 'the logged rejection');
    expect(rejected).toBe(1);
    expect(client.connected).toBe(true);
  });

  it('certificates over plain ws:// to another host are warned about at start; loopback is not', () => {
    const certificates = {
      onIdentity: () => undefined,
      onCertificate: async () => undefined,
      onError: () => undefined,
      onDisconnect: () => undefined,
    };
    const remote = start(['ws://10.255.255.1:1/v1/stream'], { certificates });
    expect(remote.logs.filter((l) => l.msg?.includes('plain ws:// stream to another host'))).toHaveLength(1);
    const local = start(['ws://127.0.0.1:1/v1/stream', 'ws://localhost:1/v1/stream'], { certificates });
    expect(local.logs.filter((l) => l.msg?.includes('plain ws:// stream'))).toHaveLength(0);
  });
});
