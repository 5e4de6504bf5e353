import {
  type ClientHttp2Session,
  connect,
  constants,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLogger, type Endpoint, seededRandom } from '@meshlet/shared';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import { RouteTable } from '../../route/route-table.js';
import { OriginPools } from '../origin-pools.js';
import { OutboundListener } from '../outbound-listener.js';
import { until } from '../test-support/loopback.js';
import { listen, routesOf } from '../test-support/outbound.js';

// The outbound listener's HTTP/2 path in process, against real HTTP/2 servers on loopback standing in for the
// callee agents: per-call retries on gRPC statuses, grpc-status in outlier detection, gRPC-shaped refusals,
// cancellation and deadlines passed on, and flow control end to end.

type Behaviour = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

interface Peer {
  id: string;
  port: number;
  server: Http2Server;
  hits: number;
  seen: IncomingHttpHeaders[];
  behave: Behaviour;
}

const ok: Behaviour = (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.from([0, 0, 0, 0, 0]));
};
const status =
  (code: number): Behaviour =>
  (stream) =>
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code) },
      { endStream: true },
    );

async function peer(id: string): Promise<Peer> {
  const p: Peer = { id, port: 0, server: createServer(), hits: 0, seen: [], behave: ok };
  p.server.on('stream', (stream, headers) => {
    p.hits++;
    p.seen.push(headers);
    stream.on('error', () => undefined);
    // The request body is read (a unary call's message), then the peer answers.
    stream.resume();
    p.behave(stream, headers);
  });
  await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
  p.port = (p.server.address() as AddressInfo).port;
  return p;
}

const endpoint = (p: Peer): Endpoint => ({ id: p.id, host: '127.0.0.1', port: p.port, tier: 0, weight: 1, labels: {} });

interface Call {
  status: number;
  grpcStatus: string | undefined;
  message: string | undefined;
  error: string | undefined;
}

describe('OutboundListener over HTTP/2', () => {
  const random = seededRandom(3);
  const stats = new EndpointStatsMap();
  const deps = { random, clock: Date.now, stats, zone: undefined };
  let listener: OutboundListener;
  let port = 0;
  let table: RouteTable | undefined;
  let client: ClientHttp2Session;
  const peers: Peer[] = [];
  const pools = new OriginPools();

  beforeAll(async () => {
    listener = new OutboundListener({
      log: createLogger('test', 'silent'),
      table: () => table,
      pools,
      stats,
      random,
      clock: Date.now,
    });
    port = await listen(listener.server);
    for (const id of ['a', 'b']) peers.push(await peer(id));
    client = connect(`http://127.0.0.1:${port}`);
  });
  afterEach(() => {
    for (const p of peers) Object.assign(p, { hits: 0, seen: [], behave: ok });
  });
  afterAll(async () => {
    client.close();
    table?.close();
    await pools.close();
    for (const s of [listener.server, ...peers.map((p) => p.server)]) {
      (s as { closeAllConnections?: () => void }).closeAllConnections?.();
      s.close();
    }
  });

  const install = (eps: Endpoint[], policy: Record<string, unknown> = {}, service = 'svc') => {
    table?.close();
    table = new RouteTable(routesOf(eps, policy, 1, service), 'control-plane', 0, deps);
  };

  /** One gRPC-shaped call (a 5-byte empty message) for `authority`. */
  const call = (authority = 'svc', headers: Record<string, string> = {}): Promise<Call> =>
    new Promise((resolve) => {
      const s = client.request({
        ':method': 'POST',
        ':path': '/t.Echo/Hi',
        ':authority': authority,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...headers,
      });
      s.end(Buffer.from([0, 0, 0, 0, 0]));
      const out: Call = { status: 0, grpcStatus: undefined, message: undefined, error: undefined };
      s.on('response', (h) => {
        out.status = h[':status'] ?? 0;
        out.grpcStatus = h['grpc-status'] as string | undefined;
        out.message = h['grpc-message'] as string | undefined;
        out.error = h['x-meshlet-error'] as string | undefined;
      });
      s.on('trailers', (t) => {
        out.grpcStatus = t['grpc-status'] as string | undefined;
      });
      s.on('error', () => undefined);
      s.resume();
      s.on('close', () => resolve(out));
    });

  it('moves a call answered UNAVAILABLE (trailers-only) to another endpoint: the client sees OK', async () => {
    const [a, b] = peers as [Peer, Peer];
    a.behave = status(14);
    install([endpoint(a), endpoint(b)], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { backoffBaseMs: 0 },
    });
    for (let i = 0; i < 6; i++) expect(await call()).toMatchObject({ status: 200, grpcStatus: '0' });
    expect(a.hits).toBeGreaterThan(0);
    expect(b.hits).toBe(6);
  });

  it('does not retry a code outside grpc.retryOn: INTERNAL reaches the client as it is', async () => {
    const [a] = peers as [Peer, Peer];
    a.behave = status(13);
    install([endpoint(a), endpoint(peers[1] as Peer)], {
      outlierDetection: { consecutiveFailures: 0 },
      balancer: { kind: 'round_robin' },
    });
    const answers = await Promise.all([call(), call(), call(), call()]);
    expect(answers.filter((x) => x.grpcStatus === '13')).toHaveLength(a.hits);
    expect(a.hits).toBeGreaterThan(0);
  });

  it('retries INTERNAL when grpc.retryOn lists it', async () => {
    const [a, b] = peers as [Peer, Peer];
    a.behave = status(13);
    install([endpoint(a), endpoint(b)], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { backoffBaseMs: 0 },
      grpc: { retryOn: ['internal'] },
    });
    for (let i = 0; i < 4; i++) expect(await call()).toMatchObject({ grpcStatus: '0' });
  });

  it('ejects an endpoint that answers INTERNAL to everything (grpc-status counts as a failure)', async () => {
    const [a, b] = peers as [Peer, Peer];
    a.behave = status(13);
    install([endpoint(a), endpoint(b)], {
      outlierDetection: { consecutiveFailures: 3, maxEjectionPercent: 50 },
      balancer: { kind: 'round_robin' },
    });
    for (let i = 0; i < 12; i++) await call();
    const before = a.hits;
    expect(before).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 10; i++) expect(await call()).toMatchObject({ grpcStatus: '0' });
    expect(a.hits).toBe(before);
  });

  it('retries a call whose endpoint cannot be connected to, POST or not', async () => {
    const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };
    install([dead, endpoint(peers[1] as Peer)], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { backoffBaseMs: 0 },
    });
    for (let i = 0; i < 4; i++) expect(await call()).toMatchObject({ grpcStatus: '0' });
  });

  it("answers the agent's own refusals as gRPC statuses, not JSON: unknown service, rate limit", async () => {
    install([endpoint(peers[1] as Peer)], { rateLimit: { requestsPerSecond: 1, burst: 1 } });
    const unknown = await call('nosuch');
    expect(unknown).toMatchObject({
      status: 200,
      grpcStatus: '12',
      error: 'MESHLET_UNKNOWN_SERVICE',
    });
    expect(unknown.message).toContain('nosuch');
    const answers = await Promise.all([call(), call(), call()]);
    const limited = answers.filter((x) => x.grpcStatus === '8');
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]).toMatchObject({ status: 200, error: 'MESHLET_RATE_LIMITED' });
  });

  it('closes streams whose body was never sent on: 300 calls to an unreachable endpoint on one connection are all answered', async () => {
    // 256 streams at most are open per connection: a stream left half-open (its body unread) would stall the 257th.
    const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };
    install([dead], { outlierDetection: { consecutiveFailures: 0 }, retries: { maxRetries: 0 } });
    for (let i = 0; i < 300; i++) expect(await call()).toMatchObject({ grpcStatus: '14' });
    install([endpoint(peers[1] as Peer)]);
    for (let i = 0; i < 300; i++) expect(await call('nosuch')).toMatchObject({ grpcStatus: '12' });
  });

  it('passes grpc-timeout on, reduced by the time spent, and answers DEADLINE_EXCEEDED when it expires first', async () => {
    const [a] = peers as [Peer, Peer];
    install([endpoint(a)]);
    await call('svc', { 'grpc-timeout': '5S' });
    const sent = Number(String(a.seen[0]?.['grpc-timeout']).replace('m', ''));
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(5000);
    a.behave = () => undefined; // never answers
    const late = await call('svc', { 'grpc-timeout': '200m' });
    expect(late).toMatchObject({ grpcStatus: '4', error: 'MESHLET_UPSTREAM_TIMEOUT' });
  });

  it('a client that cancels while its call waits (fault delay, breaker queue) never reaches the endpoint and frees its breaker slot', async () => {
    // Found by review: the attempt went out for a gone client, and its breaker slot and active count were held for good.
    const [a] = peers as [Peer, Peer];
    install([endpoint(a)], {
      outlierDetection: { consecutiveFailures: 0 },
      faultInjection: { delay: { ms: 300, percent: 100 } },
      circuitBreaker: { maxConcurrent: 1, maxPending: 5 },
      timeouts: { requestMs: 1000 },
    });
    const s = client.request({
      ':method': 'POST',
      ':path': '/t.Echo/Hi',
      ':authority': 'svc',
      'content-type': 'application/grpc',
    });
    s.on('error', () => undefined);
    const arrived = new Promise((r) => listener.h2.once('stream', r));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
    await arrived;
    s.close(constants.NGHTTP2_CANCEL);
    // The next call gets the breaker's one slot, so the cancelled call's is free, and only it reaches the endpoint.
    expect(await call()).toMatchObject({ grpcStatus: '0' });
    expect(a.hits).toBe(1);
    expect(stats.get('a').active).toBe(0);
  });

  it('an endpoint that resets a stream after its answer began counts as failed: outlier detection ejects it', async () => {
    const [a, b] = peers as [Peer, Peer];
    a.behave = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // The callee's connection dies mid-answer (its agent or host went): the stream is reset, not ended.
      stream.write(Buffer.from([0, 0, 0, 0, 0]), () => stream.session?.destroy());
    };
    install([endpoint(a), endpoint(b)], {
      outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 50 },
      balancer: { kind: 'round_robin' },
    });
    for (let i = 0; i < 8; i++) await call();
    const before = a.hits;
    for (let i = 0; i < 6; i++) expect(await call()).toMatchObject({ grpcStatus: '0' });
    expect(a.hits).toBe(before);
  });

  it('bounds a whole call by its grpc-timeout, a long stream included, without holding it against the endpoint', async () => {
    const [a, b] = peers as [Peer, Peer];
    // Answers at once, then streams for ever.
    a.behave = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const timer = setInterval(() => stream.write(Buffer.from([0, 0, 0, 0, 0])), 20);
      stream.on('close', () => clearInterval(timer));
    };
    install([endpoint(a), endpoint(b)], {
      outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 },
      balancer: { kind: 'round_robin' },
    });
    const closed: number[] = [];
    for (let i = 0; i < 2; i++) {
      const s = client.request({
        ':method': 'POST',
        ':path': '/t.Echo/Count',
        ':authority': 'svc',
        'content-type': 'application/grpc',
        'grpc-timeout': '150m',
      });
      s.on('error', () => undefined);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
      s.resume();
      await new Promise((r) => s.once('close', r));
      closed.push(s.rstCode ?? -1);
    }
    expect(closed.some((c) => c === constants.NGHTTP2_CANCEL)).toBe(true);
    // Not ejected: calls still reach a.
    const before = a.hits;
    a.behave = ok;
    for (let i = 0; i < 4; i++) await call();
    expect(a.hits).toBeGreaterThan(before);
  });

  it("cancels the endpoint's stream when the client cancels its call (RST_STREAM reaches the app)", async () => {
    const [a] = peers as [Peer, Peer];
    let cancelled = -1;
    a.behave = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(Buffer.from([0, 0, 0, 0, 0]));
      stream.on('close', () => (cancelled = stream.rstCode ?? -1));
    };
    install([endpoint(a)]);
    const s = client.request({
      ':method': 'POST',
      ':path': '/t.Echo/Count',
      ':authority': 'svc',
      'content-type': 'application/grpc',
    });
    s.end(Buffer.from([0, 0, 0, 0, 0]));
    await new Promise((r) => s.once('data', r));
    s.close(constants.NGHTTP2_CANCEL);
    await until(() => cancelled !== -1, 'the endpoint to see the cancel');
    expect(cancelled).toBe(constants.NGHTTP2_CANCEL);
  });

  it('holds a fast server back for a slow reader: flow control end to end, not buffering in the agent', async () => {
    const [a] = peers as [Peer, Peer];
    let written = 0;
    let blocked = false;
    const chunk = Buffer.alloc(64 * 1024);
    a.behave = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (written < 64 * 1024 * 1024) {
          written += chunk.length;
          if (!stream.write(chunk)) {
            blocked = true;
            stream.once('drain', () => {
              blocked = false;
              pump();
            });
            return;
          }
        }
        stream.end();
      };
      pump();
    };
    install([endpoint(a)]);
    const s = client.request({ ':method': 'GET', ':path': '/big', ':authority': 'svc' });
    s.end();
    s.pause(); // a reader that reads nothing
    // Held back for good: blocked, with nothing more taken for 20 looks in a row (the buffers between are full).
    let last = -1;
    let still = 0;
    await until(() => {
      still = blocked && written === last ? still + 1 : 0;
      last = written;
      return still >= 20;
    }, 'the server to be held back');
    // The windows of the two HTTP/2 hops and the socket buffers between: a few MiB at most of 64 MiB.
    expect(written).toBeLessThan(8 * 1024 * 1024);
    s.close(constants.NGHTTP2_CANCEL);
  });
});
