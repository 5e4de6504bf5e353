import type { AddressInfo } from 'node:net';
import { connect, createServer as createH2Server } from 'node:http2';
import { createLogger, seededRandom } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { RouteTable } from '../../route/route-table.js';
import { OriginPools } from '../origin-pools.js';
import { OutboundListener } from '../outbound-listener.js';
import { closeServer, ep, type Upstream, upstream } from '../test-support/loopback.js';
import { listen, routesOf } from '../test-support/outbound.js';
import { closeServer as closeListener } from '../server-lifecycle.js';
import { H2_UNSUPPORTED_CODE, H2Sessions } from './h2-sessions.js';

// An endpoint whose agent chose HTTP/1.1 in ALPN (an agent of an older version): HTTP/2 requests other than gRPC
// calls reach it through the HTTP/1.1 pools, their body buffered; gRPC calls, which need HTTP/2 end to end, do not.

describe('HTTP/2 requests to an agent that speaks HTTP/1.1 only', () => {
  const random = seededRandom(5);
  const stats = new EndpointStatsMap();
  const pools = new OriginPools();
  let up: Upstream;
  let listener: OutboundListener;
  let table: RouteTable;
  let port = 0;
  const refused = {
    get: () => Promise.reject(Object.assign(new Error('ALPN chose http/1.1'), { code: H2_UNSUPPORTED_CODE })),
  };

  beforeAll(async () => {
    up = await upstream('old-agent');
    const log = createLogger('test', 'silent');
    listener = new OutboundListener({
      log,
      table: () => table,
      pools,
      stats,
      random,
      clock: Date.now,
      h2: { sessions: refused as unknown as H2Sessions, stats, clock: Date.now, random, log },
    });
    port = await listen(listener.server);
    table = new RouteTable(routesOf([ep(up)], { outlierDetection: { consecutiveFailures: 0 } }), 'control-plane', 0, {
      random,
      clock: Date.now,
      stats,
      zone: undefined,
    });
  });
  afterAll(async () => {
    table.close();
    await pools.close();
    // Every stream closed, refused ones included: the listener closes with nothing left open.
    await closeListener(listener.server);
    await closeServer(up.server);
  });

  const h2 = (headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: string; error?: string; grpcStatus?: string }>((resolve, reject) => {
      const session = connect(`http://127.0.0.1:${port}`);
      session.on('error', reject);
      const s = session.request({ ':authority': 'svc', ':path': '/p', ...headers });
      s.end(body);
      const out = {
        status: 0,
        body: '',
        error: undefined as string | undefined,
        grpcStatus: undefined as string | undefined,
      };
      s.on('response', (h) => {
        out.status = h[':status'] ?? 0;
        out.error = h['x-meshlet-error'] as string | undefined;
        out.grpcStatus = h['grpc-status'] as string | undefined;
      });
      s.setEncoding('utf8');
      s.on('data', (d: string) => (out.body += d));
      s.on('close', () => {
        session.close();
        resolve(out);
      });
    });

  it('sends a plain HTTP/2 request, body and all, over HTTP/1.1', async () => {
    const before = up.hits;
    expect(await h2({ ':method': 'POST', 'content-type': 'text/plain' }, 'hello')).toMatchObject({
      status: 200,
      body: 'old-agent',
    });
    expect(await h2({ ':method': 'GET' })).toMatchObject({ status: 200, body: 'old-agent' });
    expect(up.hits).toBe(before + 2);
  });

  it('does not send a gRPC call that way: UNAVAILABLE when it is the only endpoint, the endpoint untouched', async () => {
    const before = up.hits;
    const r = await h2({ ':method': 'POST', 'content-type': 'application/grpc' }, '\0\0\0\0\0');
    expect(r).toMatchObject({ status: 200, grpcStatus: '14' });
    expect(up.hits).toBe(before);
  });

  it('moves a gRPC call to an endpoint that speaks HTTP/2, without blaming the one that does not (found by review)', async () => {
    const peer = createH2Server();
    peer.on('stream', (stream) => {
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const h2Port = (peer.address() as AddressInfo).port;
    const real = new H2Sessions(createLogger('test', 'silent'));
    const mixed = {
      get: (e: { port: number }, service: string, t: { connectMs: number; idleMs: number }) =>
        e.port === up.port ? refused.get() : real.get(e as never, service, t),
    };
    const log = createLogger('test', 'silent');
    const l = new OutboundListener({
      log,
      table: () => table2,
      pools,
      stats,
      random,
      clock: Date.now,
      h2: { sessions: mixed as unknown as H2Sessions, stats, clock: Date.now, random, log },
    });
    const lport = await listen(l.server);
    const table2 = new RouteTable(
      routesOf([ep(up), { id: 'h2', host: '127.0.0.1', port: h2Port, tier: 0, weight: 1, labels: {} }], {
        outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 },
        balancer: { kind: 'round_robin' },
        retries: { backoffBaseMs: 0 },
      }),
      'control-plane',
      0,
      { random, clock: Date.now, stats, zone: undefined },
    );
    try {
      const session = connect(`http://127.0.0.1:${lport}`);
      for (let i = 0; i < 6; i++) {
        const grpcStatus = await new Promise<string | undefined>((resolve) => {
          const s = session.request({
            ':method': 'POST',
            ':path': '/t.E/Hi',
            ':authority': 'svc',
            'content-type': 'application/grpc',
          });
          s.end('\0\0\0\0\0');
          let g: string | undefined;
          s.on('response', (h) => (g = h['grpc-status'] as string | undefined));
          s.on('error', () => undefined);
          s.resume();
          s.on('close', () => resolve(g));
        });
        expect(grpcStatus).toBe('0');
      }
      session.close();
      // Never ejected (consecutiveFailures 1 would have): it was skipped, not blamed.
      expect(table2.service('svc')?.ejected.size ?? 0).toBe(0);
    } finally {
      table2.close();
      await real.close();
      await closeListener(l.server);
      peer.close();
    }
  });
});
