import { request } from 'node:http';
import { type Endpoint, type ServicePolicy, seededRandom } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { RouteTable } from '../route/route-table.js';
import { ep, send } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// The outbound listener against real HTTP servers on loopback, in process:
// which attempts are retried, where they go, and what the budget allows.

describe('OutboundListener retries', () => {
  // The listener and the tables draw from one seeded source.
  const random = seededRandom(7);
  const f = useOutbound(() => ({
    upstreams: { bad: 503, 'good-1': 200, 'good-2': 200 },
    options: { random, clock: Date.now },
  }));
  const deps = { random, clock: Date.now, stats: f.stats, zone: undefined };

  const install = (endpoints: Endpoint[], policy: Partial<Record<keyof ServicePolicy, unknown>> = {}) => {
    f.table = new RouteTable(routesOf(endpoints, policy), 'control-plane', 0, deps);
  };
  afterEach(() => f.resetUpstreams());

  const [bad, good1, good2] = [() => f.up('bad'), () => f.up('good-1'), () => f.up('good-2')];
  const table = () => f.table;

  it('moves a GET that got a 503 to another endpoint, never the same one twice', async () => {
    install([ep(bad()), ep(good1())], { outlierDetection: { consecutiveFailures: 0 }, retries: { backoffBaseMs: 0 } });
    for (let i = 0; i < 10; i++) {
      const a = await send(f.port);
      expect(a).toMatchObject({ status: 200, instance: 'good-1' });
    }
    expect(bad().hits).toBeGreaterThan(0);
    expect(bad().hits).toBeLessThanOrEqual(10);
  });

  it('does not retry a POST on a 503: the app may have acted on it', async () => {
    install([ep(bad())], { outlierDetection: { consecutiveFailures: 0 } });
    const a = await send(f.port, 'POST', 'order');
    expect(a).toMatchObject({ status: 503, instance: 'bad' });
    expect(bad().hits).toBe(1);
  });

  it('retries a POST with a buffered body when retries.nonIdempotent allows it', async () => {
    install([ep(bad()), ep(good2())], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { nonIdempotent: true, backoffBaseMs: 0 },
    });
    for (let i = 0; i < 4; i++)
      expect(await send(f.port, 'POST', 'order')).toMatchObject({ status: 200, instance: 'good-2' });
  });

  it('retries a connect failure on another endpoint whatever the method', async () => {
    const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };
    install([dead, ep(good1())], { outlierDetection: { consecutiveFailures: 0 }, retries: { backoffBaseMs: 0 } });
    for (let i = 0; i < 4; i++)
      expect(await send(f.port, 'POST', 'x')).toMatchObject({ status: 200, instance: 'good-1' });
  });

  it('spills a retry to the backup tier when the primary tier is used up', async () => {
    install([ep(bad(), 0), ep(good2(), 1)], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { backoffBaseMs: 0 },
    });
    expect(await send(f.port)).toMatchObject({ status: 200, instance: 'good-2' });
    expect(bad().hits).toBe(1);
  });

  it('stops retrying when the budget is exhausted, and relays the last answer', async () => {
    // No reserve, 10% of requests: with nothing but failures, only about one in ten requests gets its retry.
    install([ep(bad()), ep(good1())], {
      balancer: { kind: 'round_robin' },
      outlierDetection: { consecutiveFailures: 0 },
      retries: { budgetPercent: 10, budgetMinPerSecond: 0, backoffBaseMs: 0 },
    });
    good1().status = 503;
    try {
      const answers = [];
      for (let i = 0; i < 40; i++) answers.push(await send(f.port));
      expect(answers.every((a) => a.status === 503)).toBe(true);
      const attempts = bad().hits + good1().hits;
      const retries = attempts - 40;
      expect(retries).toBeGreaterThan(0);
      expect(retries).toBeLessThanOrEqual(4);
    } finally {
      good1().status = 200;
    }
  });

  it('ejects an endpoint after consecutive failures, so later requests skip it', async () => {
    install([ep(bad()), ep(good1()), ep(good2())], {
      outlierDetection: { consecutiveFailures: 3, maxEjectionPercent: 50 },
      retries: { backoffBaseMs: 0 },
    });
    for (let i = 0; i < 30; i++) expect((await send(f.port)).status).toBe(200);
    expect(bad().hits).toBe(3);
    expect([...(table()?.service('svc')?.ejected ?? [])]).toEqual(['bad']);
  });

  it('answers 429 once the local rate limit is spent', async () => {
    install([ep(good1())], { rateLimit: { requestsPerSecond: 0.001, burst: 2 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(f.port)).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
  });

  it('aborts a configured share of requests for drills', async () => {
    install([ep(good1())], { faultInjection: { abort: { percent: 100, status: 418 } } });
    const a = await send(f.port);
    expect(a.status).toBe(418);
    expect(JSON.parse(a.body).error.code).toBe('MESHLET_FAULT_INJECTED');
    expect(good1().hits).toBe(0);
  });

  it("hands the app's 503 to the client when no other endpoint is left to retry on", async () => {
    install([ep(bad())], { outlierDetection: { consecutiveFailures: 0 } });
    bad().headers = { 'retry-after': '5' };
    const a = await send(f.port);
    expect(a).toMatchObject({ status: 503, instance: 'bad', body: 'bad' });
    expect(bad().hits).toBe(1);
  });

  it("does not retry a peer agent's own timeout", async () => {
    install([ep(bad()), ep(good1())], { outlierDetection: { consecutiveFailures: 0 }, retries: { backoffBaseMs: 0 } });
    bad().status = 504;
    bad().headers = { 'x-meshlet-error': 'MESHLET_UPSTREAM_TIMEOUT' };
    const answers = [await send(f.port), await send(f.port)];
    expect(answers.map((a) => a.status).sort()).toEqual([200, 504]);
    expect(bad().hits).toBe(1);
  });

  it('retries any status listed in retries.statuses, 429 included', async () => {
    install([ep(bad()), ep(good1())], {
      outlierDetection: { consecutiveFailures: 0 },
      retries: { statuses: [429], backoffBaseMs: 0 },
    });
    bad().status = 429;
    for (let i = 0; i < 4; i++) expect(await send(f.port)).toMatchObject({ status: 200, instance: 'good-1' });
  });

  it('passes the final answer after 103 Early Hints', async () => {
    install([ep(good1())]);
    good1().earlyHints = true;
    expect(await send(f.port)).toMatchObject({ status: 200, instance: 'good-1' });
  });

  it('does not count a client that gave up as a failure of the endpoint', async () => {
    install([ep(good1()), ep(good2())], { outlierDetection: { consecutiveFailures: 2, maxEjectionPercent: 50 } });
    good1().delayMs = 300;
    good2().delayMs = 300;
    const gaveUp = await Promise.allSettled([1, 2, 3, 4, 5, 6].map(() => send(f.port, 'GET', undefined, 30)));
    expect(gaveUp.every((r) => r.status === 'rejected')).toBe(true);
    // Every aborted request has been through the agent once none is in flight.
    const deadline = Date.now() + 5_000;
    while ((table()?.service('svc')?.breaker.active ?? 0) > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(table()?.service('svc')?.breaker.active).toBe(0);
    expect(good1().hits + good2().hits).toBe(6);
    expect([...(table()?.service('svc')?.ejected ?? [])]).toEqual([]);
  });

  it("applies a route's own request timeout, and does not retry a timeout", async () => {
    install([ep(good1()), ep(good2())], { routes: [{ match: { pathPrefix: '/x' }, timeouts: { requestMs: 50 } }] });
    good1().delayMs = 300;
    good2().delayMs = 300;
    const a = await send(f.port);
    expect(a.status).toBe(504);
    expect(JSON.parse(a.body).error.code).toBe('MESHLET_UPSTREAM_TIMEOUT');
    expect(good1().hits + good2().hits).toBe(1);
  });

  it('answers 503 with the reason in a header when the circuit breaker is full', async () => {
    install([ep(good1())], { circuitBreaker: { maxConcurrent: 1, maxPending: 0 } });
    good1().delayMs = 500;
    const first = send(f.port);
    // The second request goes once the first holds the only slot.
    const deadline = Date.now() + 5_000;
    while (table()?.service('svc')?.breaker.active !== 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    const refused = await new Promise<{ status: number; header: unknown; code: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: 'http://svc/x', agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += String(c)));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            header: res.headers['x-meshlet-circuit-open'],
            code: JSON.parse(text).error.code,
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });
    expect((await first).status).toBe(200);
    expect(refused).toEqual({ status: 503, header: 'max_pending', code: 'MESHLET_CIRCUIT_OPEN' });
    expect(good1().hits).toBe(1);
  });

  it('relays a large answer to a slow reader whole (backpressure)', async () => {
    install([ep(good1())]);
    good1().bodyBytes = 8 * 1024 * 1024;
    const received = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: 'http://svc/big', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
          // Read slowly so that the agent's writes back up.
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(received).toBe(8 * 1024 * 1024);
  });
});
