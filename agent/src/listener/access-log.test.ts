import { request } from 'node:http';
import { seededRandom } from '@meshlet/shared';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RouteTable } from '../route/route-table.js';
import { ep } from './test-support/loopback.js';
import { capturedLogger } from './test-support/log-capture.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// The access log as pino writes it: one JSON line per outbound request,
// with ids, status and timing, and nothing a header or query string carries.

describe('OutboundListener access log', () => {
  const { root, lines } = capturedLogger();
  const f = useOutbound(() => ({
    upstreams: { bad: 503, 'good-1': 200 },
    options: {
      log: root.child({ component: 'outbound' }),
      accessLog: root.child({ component: 'access' }),
      random: seededRandom(2),
      clock: Date.now,
    },
  }));
  const bad = () => f.up('bad');

  beforeAll(() => {
    const policy = {
      outlierDetection: { consecutiveFailures: 0 },
      balancer: { kind: 'round_robin' },
      retries: { backoffBaseMs: 0 },
    };
    f.table = new RouteTable(routesOf([ep(bad()), ep(f.up('good-1'))], policy), 'control-plane', 0, {
      random: seededRandom(1),
      clock: Date.now,
      stats: f.stats,
      zone: undefined,
    });
  });
  beforeEach(() => {
    lines.length = 0;
  });

  /** A GET through the listener (fetch cannot set Host); resolves with the status. */
  const get = (path: string, headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: f.port, path, headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });

  const access = async (n = 1) => {
    for (let i = 0; i < 100 && lines.filter((l) => l.component === 'access').length < n; i++)
      await new Promise((r) => setTimeout(r, 10));
    return lines.filter((l) => l.component === 'access');
  };

  it('writes one line per request with the ids, the last endpoint, the retries and the path without its query', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    for (let i = 0; i < 2; i++) {
      const status = await get('/orders/42?token=s3cret&x=1', {
        host: 'svc',
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
        'x-request-id': `req-${i}`,
        authorization: 'Bearer hunter2-secret',
        cookie: 'session=abc',
      });
      expect(status).toBe(200);
    }
    const got = await access(2);
    expect(got).toHaveLength(2);
    // A request that met bad's 503 first was retried on good-1, and says so.
    expect(bad().hits).toBeGreaterThan(0);
    expect(got.reduce((n, l) => n + (l.retries as number), 0)).toBe(bad().hits);
    for (const [i, l] of got.entries()) {
      expect(l).toMatchObject({
        level: 30,
        name: 'meshlet-agent',
        component: 'access',
        traceId,
        requestId: `req-${i}`,
        service: 'svc',
        endpoint: 'good-1',
        status: 200,
        method: 'GET',
        path: '/orders/42',
      });
      expect(typeof l.durationMs).toBe('number');
    }
    const text = JSON.stringify(lines);
    for (const secret of ['s3cret', 'hunter2', 'session=abc', 'Bearer']) expect(text).not.toContain(secret);
  });

  it('makes the ids the agent sends on when the request had none, and logs refused requests too', async () => {
    await get('/a', { host: 'svc' });
    await get('/b?q=1', { host: 'nowhere' });
    const [sent, refused] = await access(2);
    expect(sent?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(sent?.requestId).toBe(sent?.traceId);
    expect(refused).toMatchObject({ service: 'nowhere', status: 404, retries: 0, path: '/b' });
    expect(refused?.endpoint).toBeUndefined();
  });

  it('follows the level: nothing at warn', async () => {
    root.level = 'warn';
    try {
      await get('/a', { host: 'svc' });
      await new Promise((r) => setTimeout(r, 50));
      expect(lines.filter((l) => l.component === 'access')).toEqual([]);
    } finally {
      root.level = 'info';
    }
  });
});
