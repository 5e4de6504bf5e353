import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Endpoint, seededRandom } from '@meshlet/shared';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RouteTable } from '../route/route-table.js';
import { InFlightAttempts } from './in-flight-attempts.js';
import { closeServer, ep, send, until } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// A request waiting on an endpoint that has stopped answering (a host cut
// off by a partition keeps its keep-alive connections open and silent) is
// given up and retried elsewhere the moment the mesh declares the endpoint
// gone, if it may be sent again. Before, it waited out the request timeout
// and failed (found by the chaos suite: 5 of 2,624 GETs failed when one
// instance's host was partitioned from its callers).

const health = (e: Endpoint, h: 'healthy' | 'unhealthy'): Endpoint => ({ ...e, health: h });

describe('requests in flight to an endpoint that is declared gone', () => {
  const random = seededRandom(3);
  const inFlight = new InFlightAttempts();
  const f = useOutbound(() => ({
    upstreams: { stuck: 200, stuck2: 200, good: 200 },
    options: { random, clock: Date.now, inFlight },
  }));
  const deps = { random, clock: Date.now, stats: f.stats, zone: undefined, inFlight };
  afterEach(() => f.resetUpstreams());

  // Round robin; no outlier detection unless a test asks; requests wait up to 15 s.
  const policy = {
    balancer: { kind: 'round_robin' },
    outlierDetection: { consecutiveFailures: 0 },
    retries: { backoffBaseMs: 0 },
  };
  let version = 0;
  const install = (endpoints: Endpoint[], p: Record<string, unknown> = policy) => {
    f.table = new RouteTable(routesOf(endpoints, p, ++version), 'control-plane', 0, deps, f.table);
  };
  const hits = () => f.up('stuck').hits + f.up('stuck2').hits + f.up('good').hits;
  /** Sends requests until one is waiting on the stuck endpoint. */
  const waitingOnStuck = async (method = 'GET', body?: string) => {
    const answers: Array<Promise<Awaited<ReturnType<typeof send>>>> = [];
    while (f.up('stuck').hits === 0) {
      answers.push(send(f.port, method, body));
      await until(() => hits() >= answers.length, 'the request to arrive');
    }
    return answers;
  };
  const stuck = () => ep(f.up('stuck'));
  const good = () => ep(f.up('good'));

  it('still retries elsewhere in panic mode, where every endpoint was declared gone', async () => {
    // Both unhealthy (panic: both served); the one tried first answers 503, the retry must go to the other.
    install([health(stuck(), 'unhealthy'), health(good(), 'unhealthy')]);
    inFlight.abandon(f.up('stuck').id, 'was marked unhealthy');
    inFlight.abandon(f.up('good').id, 'was marked unhealthy');
    f.up('stuck').status = 503;
    try {
      for (let i = 0; i < 4; i++) expect(await send(f.port)).toMatchObject({ status: 200, instance: 'good' });
    } finally {
      inFlight.restored(f.up('stuck').id);
      inFlight.restored(f.up('good').id);
    }
  });

  it('retries a waiting GET on another endpoint when a table marks its endpoint unhealthy', async () => {
    f.up('stuck').delayMs = 60_000;
    install([stuck(), good()]);
    const answers = await waitingOnStuck();
    expect(inFlight.size).toBe(1);
    install([health(stuck(), 'unhealthy'), good()]);
    for (const a of await Promise.all(answers)) expect(a).toMatchObject({ status: 200, instance: 'good' });
    expect(inFlight.size).toBe(0);
  });

  it('does not count the given-up attempt against its endpoint (no ejection, no failure report)', async () => {
    f.up('stuck').delayMs = 60_000;
    const od = { ...policy, outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 } };
    install([stuck(), good()], od);
    const answers = await waitingOnStuck();
    install([health(stuck(), 'unhealthy'), good()], od);
    for (const a of await Promise.all(answers)) expect(a).toMatchObject({ status: 200, instance: 'good' });
    expect([...(f.table?.service('svc')?.ejected ?? [])]).toEqual([]);
  });

  it('retries a waiting GET when outlier detection ejects its endpoint', async () => {
    f.up('stuck').delayMs = 60_000;
    install([stuck(), good()], { ...policy, outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 } });
    const answers = await waitingOnStuck();
    // One failure ejects it, as the listener would count one.
    f.table?.service('svc')?.outcome('stuck', true);
    for (const a of await Promise.all(answers)) expect(a).toMatchObject({ status: 200, instance: 'good' });
  });

  it('sends the retry to neither endpoint when one table declares two gone', async () => {
    f.up('stuck').delayMs = 60_000;
    f.up('stuck2').delayMs = 60_000;
    const stuck2 = ep(f.up('stuck2'));
    install([stuck(), stuck2, good()]);
    // Two rounds: two requests wait on each stuck endpoint, so some retry would pick the other from its old selection.
    const answers = Array.from({ length: 6 }, () => send(f.port));
    await until(() => f.up('stuck').hits === 2 && f.up('stuck2').hits === 2, 'two requests waiting on each');
    install([health(stuck(), 'unhealthy'), health(stuck2, 'unhealthy'), good()]);
    // Every request waiting on either is retried on `good`: none picks the other stuck one from its old selection.
    for (const a of await Promise.all(answers)) expect(a).toMatchObject({ status: 200, instance: 'good' });
  });

  it('leaves a waiting POST alone: the app may act on it', async () => {
    f.up('stuck').delayMs = 300;
    install([stuck(), good()]);
    const answers = await waitingOnStuck('POST', 'order');
    expect(inFlight.size).toBe(0);
    install([health(stuck(), 'unhealthy'), good()]);
    expect((await Promise.all(answers)).at(-1)).toMatchObject({ status: 200, instance: 'stuck' });
  });

  it('leaves a waiting GET alone when no retry could be made (maxRetries 0; the only endpoint)', async () => {
    f.up('stuck').delayMs = 300;
    install([stuck(), good()], { ...policy, retries: { maxRetries: 0 } });
    let answers = await waitingOnStuck();
    install([health(stuck(), 'unhealthy'), good()], { ...policy, retries: { maxRetries: 0 } });
    expect((await Promise.all(answers)).at(-1)).toMatchObject({ status: 200, instance: 'stuck' });

    f.up('stuck').hits = 0;
    install([stuck()]);
    answers = await waitingOnStuck();
    install([health(stuck(), 'unhealthy')]);
    expect((await Promise.all(answers)).at(-1)).toMatchObject({ status: 200, instance: 'stuck' });
  });
});

describe('an answer that has begun', () => {
  const random = seededRandom(4);
  const inFlight = new InFlightAttempts();
  const f = useOutbound(() => ({ upstreams: { good: 200 }, options: { random, clock: Date.now, inFlight } }));
  const deps = { random, clock: Date.now, stats: f.stats, zone: undefined, inFlight };
  // An upstream that sends its headers and part of its body, then holds the rest until told.
  let hold: ServerResponse | undefined;
  const streaming = createServer((_req, res) => {
    res.writeHead(200, { 'x-instance': 'streaming' });
    res.write('part-');
    hold = res;
  });
  afterAll(() => closeServer(streaming));

  it('is never given up: the body goes on to the end', async () => {
    await new Promise<void>((r) => streaming.listen(0, '127.0.0.1', r));
    const port = (streaming.address() as AddressInfo).port;
    const endpoint: Endpoint = { id: 'streaming', host: '127.0.0.1', port, tier: 0, weight: 1, labels: {} };
    const policy = { balancer: { kind: 'round_robin' }, outlierDetection: { consecutiveFailures: 0 } };
    f.table = new RouteTable(routesOf([endpoint, ep(f.up('good'))], policy, 1), 'control-plane', 0, deps);
    // Requests until one is answered by the streaming upstream; its headers have reached the client then.
    let body: Promise<string> | undefined;
    while (!body) {
      const { instance, text } = await headersOf(f.port);
      if (instance === 'streaming') body = text;
      else await text;
    }
    f.table = new RouteTable(
      routesOf([{ ...endpoint, health: 'unhealthy' }, ep(f.up('good'))], policy, 2),
      'control-plane',
      0,
      deps,
      f.table,
    );
    hold?.end('rest');
    expect(await body).toBe('part-rest');
  });
});

/** Sends a GET through the outbound listener; resolves at the answer's headers with its instance and a promise of its body. */
function headersOf(port: number): Promise<{ instance: string; text: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: 'http://svc/x', agent: false }, (res) => {
      const text = new Promise<string>((done, fail) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (t += c));
        res.on('end', () => done(t));
        res.on('error', fail);
      });
      resolve({ instance: String(res.headers['x-instance'] ?? ''), text });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a new outlier detection policy', () => {
  const random = seededRandom(5);
  const f = useOutbound(() => ({ upstreams: { a: 200, b: 200, c: 200 }, options: { random, clock: Date.now } }));
  const deps = { random, clock: Date.now, stats: f.stats, zone: undefined };

  it('turned off, forgets the ejections of the old one even when the balancers are kept', async () => {
    const eps = [ep(f.up('a')), ep(f.up('b')), ep(f.up('c'))];
    const policy = (n: number) => ({
      balancer: { kind: 'round_robin' },
      outlierDetection: { consecutiveFailures: n, maxEjectionPercent: 50 },
    });
    f.table = new RouteTable(routesOf(eps, policy(1), 1), 'control-plane', 0, deps);
    f.table.service('svc')?.outcome('a', true);
    for (let i = 0; i < 6; i++) expect(await send(f.port)).not.toMatchObject({ instance: 'a' });
    // Same endpoints and balancer, outlier detection off: nothing is ejected any more.
    f.table = new RouteTable(routesOf(eps, policy(0), 2), 'control-plane', 0, deps, f.table);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await send(f.port)).instance);
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
  });
});
