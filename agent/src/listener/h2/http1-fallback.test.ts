import { connect } from 'node:http2';
import { createLogger, seededRandom } from '@meshlet/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { RouteTable } from '../../route/route-table.js';
import { OriginPools } from '../origin-pools.js';
import { OutboundListener } from '../outbound-listener.js';
import { closeServer, ep, type Upstream, upstream } from '../test-support/loopback.js';
import { listen, routesOf } from '../test-support/outbound.js';
import { closeServer as closeListener } from '../server-lifecycle.js';
import { H2_UNSUPPORTED_CODE, type H2Sessions } from './h2-sessions.js';

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

  it('does not send a gRPC call that way: UNAVAILABLE, the endpoint untouched', async () => {
    const before = up.hits;
    const r = await h2({ ':method': 'POST', 'content-type': 'application/grpc' }, '\0\0\0\0\0');
    expect(r).toMatchObject({ status: 200, grpcStatus: '14' });
    expect(up.hits).toBe(before);
  });
});
