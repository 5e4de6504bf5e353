import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { createLogger, guardConnections } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { RouteTable } from '../route/route-table.js';
import { OriginPools } from './origin-pools.js';
import { OutboundListener } from './outbound-listener.js';
import { PassThroughGuard } from './pass-through-guard.js';
import { PassThrough } from './pass-through.js';
import { closeServer } from './server-lifecycle.js';
import { ep, openExchange, until, type Upstream, upstream } from './test-support/loopback.js';
import { routesOf } from './test-support/outbound.js';

// What an independent review of the CONNECT and pass-through work found, each case performed against the listener
// on loopback; every one failed before its fix.

describe('the pass-through guard reads every spelling of an address', () => {
  const guard = new PassThroughGuard({
    forbidden: () => [
      { host: '127.0.0.1', port: 15000 },
      { host: '::', port: 15006 },
    ],
  });
  for (const h of ['::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:0:0', '::ffff:127.0.0.1', '127.1', 'localhost'])
    it(`refuses the admin listener on 127.0.0.1 named ${h}`, async () => {
      expect(await guard.check(h, 15000)).toMatchObject({ ok: false });
    });
  for (const h of ['0:0:0:0:0:0:0:1', '0::0', '::0', '0:0::1'])
    it(`refuses a listener bound to :: named ${h}`, async () => {
      expect(await guard.check(h, 15006)).toMatchObject({ ok: false });
    });
});

describe('the outbound listener with allow-any', () => {
  const log = createLogger('test', 'silent');
  const stats = new EndpointStatsMap();
  const pools = new OriginPools();
  let hello: Upstream;
  let outside: Server;
  let received = '';
  let table: RouteTable;
  let listener: OutboundListener;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    hello = await upstream('hello-1');
    outside = createServer((s) => {
      s.on('error', () => undefined);
      s.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.includes('0\r\n\r\n') || received.endsWith('\r\n\r\n'))
          s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
      });
    });
    outside.listen(0, '127.0.0.1');
    await once(outside, 'listening');
    table = new RouteTable(routesOf([ep(hello)], {}, 1, 'hello'), 'control-plane', 0, {
      random: Math.random,
      clock: Date.now,
      stats,
      zone: undefined,
    });
    const guard = new PassThroughGuard({ forbidden: () => [{ host: '127.0.0.1', port }] });
    listener = new OutboundListener({
      log,
      table: () => table,
      pools,
      stats,
      random: Math.random,
      clock: Date.now,
      passThrough: new PassThrough({ guard, connectTimeoutMs: 1000, log }),
    });
    guardConnections(listener.server, {
      listener: 'outbound',
      limits: {
        maxConnections: 200,
        maxConnectionsPerAddress: 200,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        idleTimeoutMs: 5_000,
        ipv6PrefixLength: 64,
      } as never,
      refusal: 'http',
      answerClientErrors: true,
    });
    listener.server.on('connection', () => connections++);
    listener.server.listen(0, '127.0.0.1');
    await once(listener.server, 'listening');
    port = (listener.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    table.close();
    await pools.close();
    await closeServer(listener.server);
    outside.close();
    hello.server.close();
  });

  it('a request to the listener itself under another spelling is refused at the first hop, no loop', async () => {
    const before = connections;
    const x = await openExchange(
      port,
      `GET http://[::ffff:7f00:1]:${port}/ HTTP/1.1\r\nhost: [::ffff:7f00:1]:${port}\r\nconnection: close\r\n\r\n`,
      (got) => got.includes('\r\n\r\n{'),
    );
    x.socket.destroy();
    expect(x.got).toMatch(/^HTTP\/1.1 403/);
    expect(x.got).toContain('MESHLET_PASSTHROUGH_FORBIDDEN');
    expect(connections - before).toBe(1);
  });

  it('a chunked body is framed again on the way out, not sent raw after the headers (request smuggling)', async () => {
    received = '';
    const inner = 'GET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n';
    const outsidePort = (outside.address() as AddressInfo).port;
    const x = await openExchange(
      port,
      `GET http://127.0.0.1:${outsidePort}/ HTTP/1.1\r\nhost: 127.0.0.1:${outsidePort}\r\ntransfer-encoding: chunked\r\n\r\n` +
        `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`,
      (got) => got.includes('ok'),
    );
    x.socket.destroy();
    expect(x.got).toMatch(/^HTTP\/1.1 200/);
    expect(received).toMatch(/transfer-encoding: chunked/i);
    expect(received).toContain(`${inner.length.toString(16)}\r\n${inner}`);
  });

  it('a request over the header limit inside a CONNECT tunnel gets the JSON 431, not a silent close', async () => {
    const big = 'x'.repeat(20_000);
    const x = await openExchange(
      port,
      `CONNECT hello:80 HTTP/1.1\r\nhost: hello:80\r\n\r\nGET / HTTP/1.1\r\nhost: hello\r\nx-big: ${big}\r\n\r\n`,
      (got) => got.includes('MESHLET_HEADERS_TOO_LARGE'),
    );
    x.socket.destroy();
    expect(x.got).toMatch(/^HTTP\/1.1 200 Connection established\r\n\r\nHTTP\/1.1 431/);
  });

  it('an idle pass-through tunnel does not keep the listener from closing', async () => {
    const idle = createServer((s) => s.on('error', () => undefined));
    idle.listen(0, '127.0.0.1');
    await once(idle, 'listening');
    const idlePort = (idle.address() as AddressInfo).port;
    const own = new OutboundListener({
      log,
      table: () => table,
      pools,
      stats,
      random: Math.random,
      clock: Date.now,
      passThrough: new PassThrough({
        guard: new PassThroughGuard({ forbidden: () => [] }),
        connectTimeoutMs: 1000,
        log,
      }),
    });
    own.server.listen(0, '127.0.0.1');
    await once(own.server, 'listening');
    const x = await openExchange(
      (own.server.address() as AddressInfo).port,
      `CONNECT 127.0.0.1:${idlePort} HTTP/1.1\r\nhost: x\r\n\r\n`,
      (got) => got.includes('200 Connection established'),
    );
    let closed = false;
    void closeServer(own.server).then(() => (closed = true));
    await until(() => closed, 'the listener to close with a tunnel open', 3_000);
    await until(() => x.closed(), 'the tunnel to be closed', 3_000);
    idle.close();
  });
});
