import type { AddressInfo } from 'node:net';
import { createLogger, type Endpoint, type Routes, type ServicePolicy, seededRandom } from '@meshlet/shared';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EndpointStatsMap } from '../balancer/endpoint-stats.js';
import { ObservationRecorder } from '../control/observation-recorder.js';
import { RouteTable } from '../route/route-table.js';
import { OriginPools } from './origin-pools.js';
import { OutboundListener } from './outbound-listener.js';
import { closeServer, ep, send, type Upstream, upstream, until } from './test-support/loopback.js';

// What the outbound path records for the control plane, per endpoint, with
// real upstreams on loopback: every attempt, classified as outlier detection
// classifies it, except those the client abandoned.

describe('OutboundListener observations', () => {
  let a: Upstream;
  let b: Upstream;
  let listener: OutboundListener;
  let port: number;
  let table: RouteTable | undefined;
  let recorder: ObservationRecorder;
  const pools = new OriginPools();
  const stats = new EndpointStatsMap();
  const deps = { random: seededRandom(11), clock: Date.now, stats, zone: undefined, observations: { record: (...args: [string, string, boolean, number]) => recorder.record(...args), ejected: (service: string, id: string) => recorder.ejected(service, id) } };
  const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };

  const install = (endpoints: Endpoint[], policy: Partial<Record<keyof ServicePolicy, unknown>> = {}) => {
    const routes = { type: 'routes', version: 1, nonce: 'n', services: { svc: { endpoints, policy: { outlierDetection: { consecutiveFailures: 0 }, retries: { backoffBaseMs: 0 }, ...policy } } } } as unknown as Routes;
    table = new RouteTable(routes, 'control-plane', 0, deps, table);
  };
  /** The report of everything recorded so far, by endpoint id. */
  const report = () => Object.fromEntries((recorder.take(1000)?.endpoints ?? []).map(({ id, ...rest }) => [id, rest]));

  beforeAll(async () => {
    a = await upstream('a');
    b = await upstream('b');
    listener = new OutboundListener({ table: () => table, pools, stats, log: createLogger('test', 'silent'), random: deps.random, clock: Date.now });
    await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', r));
    port = (listener.server.address() as AddressInfo).port;
  });
  beforeEach(() => {
    recorder = new ObservationRecorder(0);
    Object.assign(a, { status: 200, delayMs: 0, headers: {}, hits: 0 });
    Object.assign(b, { status: 200, delayMs: 0, headers: {}, hits: 0 });
  });
  afterAll(async () => {
    table?.close();
    await pools.close();
    for (const s of [listener.server, a.server, b.server]) await closeServer(s);
  });

  it('counts answered attempts as ok, with their mean latency', async () => {
    install([ep(a)]);
    a.delayMs = 20;
    for (let i = 0; i < 3; i++) expect((await send(port)).status).toBe(200);
    const r = report();
    expect(r.a).toMatchObject({ service: 'svc', ok: 3, failed: 0 });
    expect(r.a?.latencyMs).toBeGreaterThanOrEqual(19);
  });

  it('counts 5xx answers as failed, as outlier detection does, with their latency; not a 4xx', async () => {
    install([ep(a)]);
    for (const status of [503, 502, 500, 404]) {
      a.status = status;
      expect((await send(port)).status).toBe(status);
    }
    expect(report().a).toMatchObject({ ok: 1, failed: 3, latencyMs: expect.any(Number) });
  });

  it('counts both attempts of a retried request: the failed one and the one that answered', async () => {
    install([ep(a), ep(b)], { balancer: { kind: 'round_robin' } });
    a.status = 503;
    const answers = [await send(port), await send(port)];
    expect(answers.map((x) => x.status)).toEqual([200, 200]);
    // Round robin starts at a random place: a was tried once or twice, each time followed by a retry on b.
    expect(a.hits).toBeGreaterThanOrEqual(1);
    const r = report();
    expect(r.a).toMatchObject({ ok: 0, failed: a.hits });
    expect(r.b).toMatchObject({ ok: 2, failed: 0 });
  });

  it('counts a connect failure and a timeout as failed, without latency', async () => {
    install([dead]);
    expect((await send(port, 'POST', 'x')).status).toBe(502);
    install([ep(a)], { timeouts: { requestMs: 30 } });
    a.delayMs = 300;
    expect((await send(port)).status).toBe(504);
    const r = report();
    expect(r.dead).toEqual({ service: 'svc', ok: 0, failed: 1 });
    expect(r.a).toEqual({ service: 'svc', ok: 0, failed: 1 });
  });

  it('does not count an attempt the client abandoned', async () => {
    install([ep(a)]);
    a.delayMs = 300;
    await expect(send(port, 'GET', undefined, 20)).rejects.toThrow();
    await until(() => table?.service('svc')?.breaker.active === 0, 'the abandoned request to end in the agent');
    expect(recorder.take(1000)).toBeUndefined();
  });
});
