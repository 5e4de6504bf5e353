import { once } from 'node:events';
import { request } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { createLogger } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteTable } from '../route/route-table.js';
import { PassThroughGuard } from './pass-through-guard.js';
import { PassThrough, passThroughTarget, splitAuthority } from './pass-through.js';
import { closeServer, ep, exchange, type Upstream, upstream, until } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// outboundTrafficPolicy allow-any, in process: a host outside the mesh (a
// plain HTTP server on loopback standing for it) is reached by a request
// and by a CONNECT; the agent's own listeners are not.

/** A GET through the listener on `port` for the absolute `url`: status, error code, body. */
function get(port: number, url: string): Promise<{ status: number; code: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: url, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, code: String(res.headers['x-meshlet-error'] ?? ''), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('outboundTrafficPolicy allow-any', () => {
  let outside: Upstream;
  const log = createLogger('test', 'silent');
  // The listener's own port is forbidden, as the agent forbids all of its listeners' ports.
  const guard = new PassThroughGuard({ forbidden: () => [{ host: '127.0.0.1', port: f.port }] });
  const f = useOutbound(() => ({
    upstreams: { 'hello-1': 200 },
    options: {
      random: Math.random,
      clock: Date.now,
      passThrough: new PassThrough({ guard, connectTimeoutMs: 1000, log }),
    },
  }));
  beforeAll(async () => {
    outside = await upstream('outside');
    const deps = { random: Math.random, clock: Date.now, stats: f.stats, zone: undefined };
    f.table = new RouteTable(routesOf([ep(f.up('hello-1'))], {}, 1, 'hello'), 'control-plane', 0, deps);
  });
  afterAll(() => closeServer(outside.server));

  it('relays a plain request for a host outside the mesh to that host and port', async () => {
    const a = await get(f.port, `http://127.0.0.1:${outside.port}/out?q=1`);
    expect(a).toMatchObject({ status: 200, body: 'outside' });
  });

  it('still routes a mesh service by name', async () => {
    const a = await get(f.port, 'http://hello/');
    expect(a).toMatchObject({ status: 200, body: 'hello-1' });
  });

  it('tunnels a CONNECT to a host outside the mesh as raw TCP', async () => {
    const got = await exchange(
      f.port,
      `CONNECT 127.0.0.1:${outside.port} HTTP/1.1\r\nhost: 127.0.0.1:${outside.port}\r\n\r\nGET / HTTP/1.1\r\nhost: outside\r\n\r\n`,
      (g) => g.includes('outside\r\n') || g.endsWith('outside'),
    );
    expect(got).toMatch(/^HTTP\/1\.1 200 Connection established\r\n\r\nHTTP\/1\.1 200 /);
  });

  it('a pass-through request naming the outbound listener itself is refused, not looped: 403 MESHLET_PASSTHROUGH_FORBIDDEN', async () => {
    for (const host of ['127.0.0.1', 'localhost', '127.0.0.2', '[::ffff:127.0.0.1]']) {
      const a = await get(f.port, `http://${host}:${f.port}/`);
      expect(a, host).toMatchObject({ status: 403, code: 'MESHLET_PASSTHROUGH_FORBIDDEN' });
    }
  });

  it("a CONNECT to the agent's own listener is refused with 403 before any byte is tunnelled", async () => {
    const got = await exchange(f.port, `CONNECT 127.0.0.1:${f.port} HTTP/1.1\r\nhost: x\r\n\r\n`, () => false);
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 403 Forbidden');
    expect(got).toContain('MESHLET_PASSTHROUGH_FORBIDDEN');
  });

  it('tunnels an upgrade (WebSocket) to a host outside the mesh once it answers 101', async () => {
    const raw = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: Upgrade\r\n\r\n');
        socket.on('data', (c: Buffer) => socket.write(`echo ${c.toString()}`));
      });
      socket.on('error', () => undefined);
    });
    raw.listen(0, '127.0.0.1');
    await once(raw, 'listening');
    const rawPort = (raw.address() as AddressInfo).port;
    try {
      const socket = connect(f.port, '127.0.0.1');
      await once(socket, 'connect');
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
      socket.write(
        `GET http://127.0.0.1:${rawPort}/ws HTTP/1.1\r\nhost: 127.0.0.1:${rawPort}\r\nupgrade: test\r\nconnection: Upgrade\r\n\r\n`,
      );
      await until(() => got.includes('\r\n\r\n'), 'the 101');
      expect(got).toMatch(/^HTTP\/1\.1 101 /);
      socket.write('ping');
      await until(() => got.endsWith('echo ping'), 'the echo');
      socket.destroy();
    } finally {
      raw.close();
    }
  });

  it('a host outside the mesh that cannot be reached gets a JSON 502 naming it', async () => {
    const a = await get(f.port, 'http://127.0.0.1:1/');
    expect(a).toMatchObject({ status: 502, code: 'MESHLET_UPSTREAM_UNREACHABLE' });
    expect(a.body).toContain('127.0.0.1:1');
  });
});

describe('outboundTrafficPolicy registry-only (the default)', () => {
  let outside: Upstream;
  const f = useOutbound(() => ({ upstreams: { 'hello-1': 200 }, options: { random: Math.random, clock: Date.now } }));
  beforeAll(async () => {
    outside = await upstream('outside');
    const deps = { random: Math.random, clock: Date.now, stats: f.stats, zone: undefined };
    f.table = new RouteTable(routesOf([ep(f.up('hello-1'))], {}, 1, 'hello'), 'control-plane', 0, deps);
  });
  afterAll(() => closeServer(outside.server));

  it('a request for a host outside the mesh gets the 404 and never reaches it', async () => {
    const a = await get(f.port, `http://127.0.0.1:${outside.port}/`);
    expect(a).toMatchObject({ status: 404, code: 'MESHLET_UNKNOWN_SERVICE' });
    expect(outside.hits).toBe(0);
  });

  it('a CONNECT to a non-mesh host is refused with the 404 and never reaches it', async () => {
    const got = await exchange(
      f.port,
      `CONNECT 127.0.0.1:${outside.port} HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n`,
      () => false,
    );
    expect(got.split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
    expect(got).toContain('known services: hello');
    expect(outside.hits).toBe(0);
  });
});

describe('PassThroughGuard', () => {
  const local = () => new Set(['0.0.0.0', '::', '10.1.2.3']);
  const names: Record<string, string[]> = {
    'cp.internal': ['10.9.9.9'],
    rebound: ['127.0.0.1'],
    mixed: ['93.184.216.34', '127.0.0.1'],
  };
  const resolve = async (h: string) => names[h] ?? [h];
  const guard = new PassThroughGuard({
    forbidden: () => [
      { host: '0.0.0.0', port: 15006 },
      { host: '127.0.0.1', port: 15000 },
      { host: 'cp.internal', port: 15010 },
    ],
    resolve,
    local,
  });

  it('refuses any address of this host on an agent port, and the control plane', async () => {
    expect(await guard.check('127.0.0.1', 15000)).toMatchObject({ ok: false });
    expect(await guard.check('10.1.2.3', 15006)).toMatchObject({ ok: false });
    expect(await guard.check('::1', 15000)).toMatchObject({ ok: false });
    expect(await guard.check('rebound', 15000)).toMatchObject({ ok: false });
    expect(await guard.check('mixed', 15000)).toMatchObject({ ok: false });
    expect(await guard.check('cp.internal', 15010)).toMatchObject({ ok: false });
    expect(await guard.check('10.9.9.9', 15010)).toMatchObject({ ok: false });
  });

  it('allows other hosts and other ports, connecting to the address it checked', async () => {
    expect(await guard.check('mixed', 443)).toEqual({ ok: true, address: '93.184.216.34' });
    expect(await guard.check('127.0.0.1', 5432)).toEqual({ ok: true, address: '127.0.0.1' });
    expect(await guard.check('10.9.9.9', 15000)).toEqual({ ok: true, address: '10.9.9.9' });
  });
});

describe('pass-through targets', () => {
  it('splits authorities, IPv6 included, and refuses malformed ones', () => {
    expect(splitAuthority('hello:80', undefined)).toEqual({ host: 'hello', port: 80 });
    expect(splitAuthority('[::1]:8080', undefined)).toEqual({ host: '::1', port: 8080 });
    expect(splitAuthority('Example.COM', 80)).toEqual({ host: 'example.com', port: 80 });
    for (const bad of ['', '/x', 'a:99999', 'a:0', 'user@host:80', 'a b:80'])
      expect(splitAuthority(bad, 80), bad).toBeUndefined();
  });

  it('reads the absolute URL or the Host header', () => {
    const req = (url: string, host?: string) => ({ url, headers: host ? { host } : {} }) as never;
    expect(passThroughTarget(req('http://example.com:8080/a?b'))).toEqual({
      host: 'example.com',
      port: 8080,
      path: '/a?b',
    });
    expect(passThroughTarget(req('/p', 'example.com'))).toEqual({ host: 'example.com', port: 80, path: '/p' });
    expect(passThroughTarget(req('https://example.com/'))).toContain('CONNECT');
  });
});
