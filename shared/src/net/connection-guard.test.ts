import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionGuard, type ConnectionRefusal, guardConnections } from './connection-guard.js';

// Attacks on one guarded node:http server on loopback: connections beyond the
// caps, and callers that never finish their headers. 127.0.0.2 stands for a
// second caller (all of 127/8 is loopback on Linux).

const limits = {
  maxConnections: 6,
  maxConnectionsPerAddress: 4,
  headersTimeoutMs: 300,
  requestTimeoutMs: 600,
  idleTimeoutMs: 5000,
  ipv6PrefixLength: 64,
};

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Probe {
  socket: Socket;
  data: string;
  closed: boolean;
}

function open(port: number, from = '127.0.0.1', send?: string): Promise<Probe> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  const p: Probe = { socket, data: '', closed: false };
  socket.on('data', (d: Buffer) => (p.data += d.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => (p.closed = true));
  return once(socket, 'connect').then(() => {
    if (send !== undefined) socket.write(send);
    return p;
  });
}

describe('guardConnections', { timeout: 20_000 }, () => {
  let server: Server;
  let port: number;
  const refused: ConnectionRefusal[] = [];
  const probes: Probe[] = [];

  async function start(refusal: 'http' | 'close'): Promise<void> {
    server = createServer((_req, res) => res.end('ok'));
    guardConnections(server, {
      listener: 'test',
      limits,
      refusal,
      answerClientErrors: true,
      onRefused: (r) => refused.push(r),
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  }
  const hold = async (from: string, n: number) => {
    for (let i = 0; i < n; i++) probes.push(await open(port, from));
  };

  afterEach(async () => {
    for (const p of probes.splice(0)) p.socket.destroy();
    refused.length = 0;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('slow connections sending partial headers are closed after headersTimeout and counted', async () => {
    await start('http');
    const slow: Probe[] = [];
    for (let i = 0; i < 20; i++)
      slow.push(await open(port, i % 2 ? '127.0.0.1' : '127.0.0.3', 'GET / HTTP/1.1\r\nHost: x\r\n'));
    // 20 > the caps: the later ones are refused, the admitted ones time out.
    await until('every slow connection closed', () => slow.every((p) => p.closed));
    const timedOut = slow.filter((p) => p.data.startsWith('HTTP/1.1 408'));
    expect(timedOut.length).toBe(6);
    expect(refused.filter((r) => r === 'request_timeout')).toHaveLength(6);
  });

  it('connections beyond the per-address cap are refused with a 503 JSON answer while another address gets through', async () => {
    await start('http');
    await hold('127.0.0.1', 4);
    const fifth = await open(port, '127.0.0.1', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the refused connection closed', () => fifth.closed);
    expect(fifth.data).toMatch(/^HTTP\/1.1 503 Service Unavailable\r\n/);
    expect(fifth.data).toContain('connection: close');
    const body = JSON.parse(fifth.data.slice(fifth.data.indexOf('\r\n\r\n') + 4)) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: 'MESHLET_CONNECTION_LIMIT', listener: 'test', reason: 'per_address' });
    const other = await open(port, '127.0.0.2', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until('the other address answered', () => other.closed);
    expect(other.data).toMatch(/^HTTP\/1.1 200 OK/);
    expect(refused).toEqual(['per_address']);
  });

  it('connections beyond maxConnections are refused, and closed without a byte when the listener says so', async () => {
    await start('close');
    await hold('127.0.0.1', 4);
    await hold('127.0.0.2', 2);
    const seventh = await open(port, '127.0.0.3', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('the refused connection closed', () => seventh.closed);
    expect(seventh.data).toBe('');
    expect(refused).toEqual(['max_connections']);
    // A slot frees when a connection closes.
    probes[0]?.socket.destroy();
    await until('the slot freed', () => probes[0]?.closed === true);
    const next = await open(port, '127.0.0.3', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await until('answered', () => next.closed);
    expect(next.data).toMatch(/^HTTP\/1.1 200 OK/);
  });
});

/** A socket as the guard sees it: an address, events, and destroy(). */
function fakeSocket(remoteAddress: string): Socket & { destroyed: boolean } {
  const s = Object.assign(new EventEmitter(), { remoteAddress, destroyed: false }) as unknown as Socket & {
    destroyed: boolean;
  };
  (s as unknown as { destroy: () => void }).destroy = () => {
    (s as { destroyed: boolean }).destroyed = true;
    s.emit('close');
  };
  return s;
}

describe('ConnectionGuard, an IPv6 caller with a whole /64', () => {
  const guard = (ipv6PrefixLength?: number) => {
    const refused: ConnectionRefusal[] = [];
    const g = new ConnectionGuard({
      listener: 'test',
      limits: { ...limits, maxConnections: 1000, ipv6PrefixLength: ipv6PrefixLength ?? 64 },
      refusal: 'close',
      answerClientErrors: false,
      onRefused: (r) => refused.push(r),
    });
    return { g, refused };
  };

  it('many connections from distinct addresses of one /64 are counted against one per-address cap', () => {
    const { g, refused } = guard();
    const sockets = Array.from({ length: 40 }, (_, i) => fakeSocket(`2001:db8:1:2::${(i + 1).toString(16)}`));
    const admitted = sockets.filter((s) => g.admit(s));
    expect(admitted).toHaveLength(limits.maxConnectionsPerAddress);
    expect(refused).toEqual(Array.from({ length: 36 }, () => 'per_address'));
    expect(sockets.filter((s) => s.destroyed)).toHaveLength(36);
    expect(g.openFrom('2001:db8:1:2:abcd::1')).toBe(limits.maxConnectionsPerAddress);
    // Another /64 and IPv4 callers (mapped or not: one caller) are apart from it.
    expect(g.admit(fakeSocket('2001:db8:1:3::1'))).toBe(true);
    expect(g.admit(fakeSocket('::ffff:192.0.2.1'))).toBe(true);
    expect(g.openFrom('192.0.2.1')).toBe(1);
    // A place comes back when one of the /64's connections closes.
    admitted[0]?.destroy();
    expect(g.admit(fakeSocket('2001:db8:1:2::ffff'))).toBe(true);
  });

  it('counts each IPv6 address apart with ipv6PrefixLength 128', () => {
    const { g } = guard(128);
    const sockets = Array.from({ length: 10 }, (_, i) => fakeSocket(`2001:db8:1:2::${i + 1}`));
    expect(sockets.filter((s) => g.admit(s))).toHaveLength(10);
  });
});
