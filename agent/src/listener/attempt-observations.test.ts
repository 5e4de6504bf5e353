import { type Endpoint, type ServicePolicy, seededRandom } from '@meshlet/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { ObservationRecorder } from '../control/observation-recorder.js';
import { RouteTable } from '../route/route-table.js';
import { ep, send, until } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// What the outbound path records for the control plane, per endpoint, with
// real upstreams on loopback: every attempt, classified as outlier detection
// classifies it, except those the client abandoned.

describe('OutboundListener observations', () => {
  // The listener and the tables draw from one seeded source.
  const random = seededRandom(11);
  const f = useOutbound(() => ({ upstreams: { a: 200, b: 200 }, options: { random, clock: Date.now } }));
  let recorder: ObservationRecorder;
  const deps = {
    random,
    clock: Date.now,
    stats: f.stats,
    zone: undefined,
    observations: {
      record: (...args: [string, string, boolean, number]) => recorder.record(...args),
      ejected: (service: string, id: string) => recorder.ejected(service, id),
    },
  };
  const dead: Endpoint = { id: 'dead', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} };

  const install = (endpoints: Endpoint[], policy: Partial<Record<keyof ServicePolicy, unknown>> = {}) => {
    f.table = new RouteTable(
      routesOf(endpoints, { outlierDetection: { consecutiveFailures: 0 }, retries: { backoffBaseMs: 0 }, ...policy }),
      'control-plane',
      0,
      deps,
      f.table,
    );
  };
  /** The report of everything recorded so far, by endpoint id. */
  const report = () => Object.fromEntries((recorder.take(1000)?.endpoints ?? []).map(({ id, ...rest }) => [id, rest]));
  const [a, b] = [() => f.up('a'), () => f.up('b')];

  beforeEach(() => {
    recorder = new ObservationRecorder(0);
    f.resetUpstreams();
  });

  it('counts answered attempts as ok, with their mean latency', async () => {
    install([ep(a())]);
    a().delayMs = 20;
    for (let i = 0; i < 3; i++) expect((await send(f.port)).status).toBe(200);
    const r = report();
    expect(r.a).toMatchObject({ service: 'svc', ok: 3, failed: 0 });
    expect(r.a?.latencyMs).toBeGreaterThanOrEqual(19);
  });

  it('counts 5xx answers as failed, as outlier detection does, with their latency; not a 4xx', async () => {
    install([ep(a())]);
    for (const status of [503, 502, 500, 404]) {
      a().status = status;
      expect((await send(f.port)).status).toBe(status);
    }
    expect(report().a).toMatchObject({ ok: 1, failed: 3, latencyMs: expect.any(Number) });
  });

  it('counts both attempts of a retried request: the failed one and the one that answered', async () => {
    install([ep(a()), ep(b())], { balancer: { kind: 'round_robin' } });
    a().status = 503;
    const answers = [await send(f.port), await send(f.port)];
    expect(answers.map((x) => x.status)).toEqual([200, 200]);
    // Round robin starts at a random place: a was tried once or twice, each time followed by a retry on b.
    expect(a().hits).toBeGreaterThanOrEqual(1);
    const r = report();
    expect(r.a).toMatchObject({ ok: 0, failed: a().hits });
    expect(r.b).toMatchObject({ ok: 2, failed: 0 });
  });

  it('counts a connect failure and a timeout as failed, without latency', async () => {
    install([dead]);
    expect((await send(f.port, 'POST', 'x')).status).toBe(502);
    install([ep(a())], { timeouts: { requestMs: 30 } });
    a().delayMs = 300;
    expect((await send(f.port)).status).toBe(504);
    const r = report();
    expect(r.dead).toEqual({ service: 'svc', ok: 0, failed: 1 });
    expect(r.a).toEqual({ service: 'svc', ok: 0, failed: 1 });
  });

  it('does not count an attempt the client abandoned', async () => {
    install([ep(a())]);
    a().delayMs = 300;
    await expect(send(f.port, 'GET', undefined, 20)).rejects.toThrow();
    await until(() => f.table?.service('svc')?.breaker.active === 0, 'the abandoned request to end in the agent');
    expect(recorder.take(1000)).toBeUndefined();
  });
});
