import type { AddressInfo } from 'node:net';
import { createLogger, type Endpoint, seededRandom } from '@meshlet/shared';
import { Pool } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentMetrics, createAgentMetrics } from '../metrics.js';
import type { RuntimeDeps } from '../route/service-runtime.js';
import { RouteTable } from '../route/route-table.js';
import { InboundListener } from './inbound-listener.js';
import { closeServer, ep, send, until, upstream } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// The metric hooks of the outbound and inbound paths against real HTTP
// servers on loopback: what each kind of attempt adds, and which series go
// away with the endpoints and services that leave the table.

/** The value of the series of `name` whose labels include `labels`; undefined when there is none. */
async function value(
  metrics: AgentMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const all = await metrics.registry.getMetricsAsJSON();
  const family = all.find((m) => m.name === name || name.startsWith(`${m.name}_`));
  const v = family?.values.find((s) => {
    const series = (s as { metricName?: string }).metricName ?? family.name;
    return series === name && Object.entries(labels).every(([k, want]) => String(s.labels[k]) === want);
  });
  return v?.value;
}

/** Every endpoint label of `meshlet_agent_requests_total` series. */
async function endpointsCounted(metrics: AgentMetrics): Promise<string[]> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((f) => f.name === 'meshlet_agent_requests_total');
  return [...new Set((m?.values ?? []).map((v) => String(v.labels.endpoint)))].sort();
}

const noSources = { controlPlaneConnected: () => false, tableVersion: () => 0 };

describe('outbound metrics', () => {
  const f = useOutbound(() => ({
    upstreams: { bad: 503, 'good-1': 200, 'bad-2': 503 },
    options: { random: seededRandom(3), clock: Date.now },
  }));
  let metrics: AgentMetrics;
  let deps: RuntimeDeps;

  const install = (endpoints: Endpoint[], policy: Record<string, unknown> = {}) => {
    f.table?.close();
    f.table = new RouteTable(
      routesOf(endpoints, {
        outlierDetection: { consecutiveFailures: 0 },
        ...policy,
        retries: { backoffBaseMs: 0, ...(policy.retries as object) },
      }),
      'control-plane',
      0,
      deps,
    );
  };

  beforeEach(() => {
    metrics = createAgentMetrics(noSources);
    deps = { random: seededRandom(11), clock: Date.now, stats: f.stats, zone: undefined, metrics };
  });
  afterEach(() => f.resetUpstreams());
  const [bad, good1, bad2] = [() => f.up('bad'), () => f.up('good-1'), () => f.up('bad-2')];

  it('counts every attempt per endpoint and code class, each retry, and one duration per request', async () => {
    install([ep(bad()), ep(good1())]);
    for (let i = 0; i < 10; i++) expect((await send(f.port)).status).toBe(200);
    expect(bad().hits).toBeGreaterThan(0);
    expect(await value(metrics, 'meshlet_agent_requests_total', { endpoint: 'good-1', code_class: '2xx' })).toBe(10);
    expect(
      await value(metrics, 'meshlet_agent_requests_total', { service: 'svc', endpoint: 'bad', code_class: '5xx' }),
    ).toBe(bad().hits);
    expect(await value(metrics, 'meshlet_agent_retries_total', { service: 'svc' })).toBe(bad().hits);
    expect(await value(metrics, 'meshlet_agent_request_duration_seconds_count', { service: 'svc' })).toBe(10);
    expect(await value(metrics, 'meshlet_agent_active_requests', { service: 'svc' })).toBe(0);
    expect(await value(metrics, 'meshlet_agent_retry_budget_exhausted_total', { service: 'svc' })).toBe(0);
  });

  it('counts an attempt that got no answer as error', async () => {
    const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };
    install([dead, ep(good1())]);
    for (let i = 0; i < 6; i++) expect((await send(f.port)).status).toBe(200);
    const errors = await value(metrics, 'meshlet_agent_requests_total', { endpoint: 'dead', code_class: 'error' });
    expect(errors).toBeGreaterThan(0);
    expect(await value(metrics, 'meshlet_agent_retries_total', { service: 'svc' })).toBe(errors);
  });

  it('counts a request in flight while it is', async () => {
    install([ep(good1())]);
    good1().delayMs = 300;
    const before = good1().hits;
    const pending = send(f.port);
    // The upstream holds its answer for 300 ms once the request has reached it.
    await until(() => good1().hits > before, 'the request to reach the upstream');
    expect(await value(metrics, 'meshlet_agent_active_requests', { service: 'svc' })).toBe(1);
    await pending;
    expect(await value(metrics, 'meshlet_agent_active_requests', { service: 'svc' })).toBe(0);
  });

  it('counts a retry the budget refused', async () => {
    install([ep(bad()), ep(bad2())], { retries: { budgetPercent: 0, budgetMinPerSecond: 0 } });
    expect((await send(f.port)).status).toBe(503);
    expect(await value(metrics, 'meshlet_agent_retry_budget_exhausted_total', { service: 'svc' })).toBe(1);
    expect(await value(metrics, 'meshlet_agent_retries_total', { service: 'svc' })).toBe(0);
  });

  it('counts circuit-breaker refusals', async () => {
    install([ep(good1())], { circuitBreaker: { maxConcurrent: 1, maxPending: 0 } });
    good1().delayMs = 200;
    const answers = await Promise.all([send(f.port), send(f.port), send(f.port)]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 503, 503]);
    expect(await value(metrics, 'meshlet_agent_circuit_open_total', { service: 'svc' })).toBe(2);
  });

  it('counts ejections by outlier detection', async () => {
    install([ep(bad()), ep(good1())], { outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 100 } });
    for (let i = 0; i < 6; i++) await send(f.port);
    expect(await value(metrics, 'meshlet_agent_ejections_total', { service: 'svc' })).toBe(1);
  });

  it('removes the series of endpoints and services that leave the table', async () => {
    install([ep(bad()), ep(good1())]);
    for (let i = 0; i < 6; i++) await send(f.port);
    expect(await endpointsCounted(metrics)).toEqual(['bad', 'good-1']);
    const policy = { outlierDetection: { consecutiveFailures: 0 } };
    f.table = new RouteTable(routesOf([ep(good1())], policy, 2), 'control-plane', 0, deps, f.table);
    expect(await endpointsCounted(metrics)).toEqual(['good-1']);
    await send(f.port);
    expect(await value(metrics, 'meshlet_agent_requests_total', { endpoint: 'good-1', code_class: '2xx' })).toBe(7);
    // The service leaves: none of its series stay.
    f.table = new RouteTable(routesOf([ep(good1())], policy, 3, 'other'), 'control-plane', 0, deps, f.table);
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/service="svc"/);
    expect(text).toMatch(/meshlet_agent_retries_total\{service="other"\} 0/);
  });
});

describe('inbound metrics', () => {
  it('counts answers by class, and a request the app never answered as error, with their durations', async () => {
    const app = await upstream('app', 200);
    const metrics = createAgentMetrics(noSources);
    const make = (appPort: number) => {
      const pool = new Pool(`http://127.0.0.1:${appPort}`);
      const l = new InboundListener({
        app: pool,
        appName: 'app',
        appHost: '127.0.0.1',
        appPort,
        log: createLogger('test', 'silent'),
        requestTimeoutMs: 2000,
        connectTimeoutMs: 500,
        metrics,
      });
      return { pool, l };
    };
    const up = make(app.port);
    const down = make(1);
    try {
      for (const { l } of [up, down]) await new Promise<void>((r) => l.server.listen(0, '127.0.0.1', r));
      const at = (l: InboundListener) => (l.server.address() as AddressInfo).port;
      expect((await fetch(`http://127.0.0.1:${at(up.l)}/x`)).status).toBe(200);
      app.status = 404;
      expect((await fetch(`http://127.0.0.1:${at(up.l)}/x`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${at(down.l)}/x`)).status).toBe(502);
      expect(await value(metrics, 'meshlet_agent_inbound_requests_total', { code_class: '2xx' })).toBe(1);
      expect(await value(metrics, 'meshlet_agent_inbound_requests_total', { code_class: '4xx' })).toBe(1);
      expect(await value(metrics, 'meshlet_agent_inbound_requests_total', { code_class: 'error' })).toBe(1);
      expect(await value(metrics, 'meshlet_agent_inbound_request_duration_seconds_count')).toBe(3);
    } finally {
      for (const { l, pool } of [up, down]) {
        await closeServer(l.server);
        await pool.close();
      }
      await closeServer(app.server);
    }
  });
});
