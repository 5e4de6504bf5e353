import { request } from 'node:http';
import { createLogger, type Endpoint, seededRandom } from '@meshlet/shared';
import { beforeEach, describe, expect, it } from 'vitest';
import { ObservationRecorder } from '../control/observation-recorder.js';
import { StaticWorkloadIdentity } from '../identity/static-workload-identity.js';
import type { WorkloadCertificate } from '../identity/workload-identity.js';
import { RouteTable } from '../route/route-table.js';
import { MtlsConnector } from './mtls-connector.js';
import { OriginPools } from './origin-pools.js';
import { ep, send } from './test-support/loopback.js';
import { routesOf, useOutbound } from './test-support/outbound.js';

// An agent that cannot call an mTLS endpoint for a reason of its own (no
// workload certificate yet, or its own expired while the control plane was
// out of reach) answers 503 MESHLET_IDENTITY_UNAVAILABLE at once, naming
// why: the endpoint is not to blame, so it is neither retried elsewhere,
// nor ejected, nor reported to the control plane as failing.

describe('an agent whose own identity is unusable', () => {
  const random = seededRandom(5);
  const identity = new StaticWorkloadIdentity();
  const clock = { now: 1_000_000 };
  const connector = new MtlsConnector({ identity, log: createLogger('test', 'silent'), clock: () => clock.now });
  const f = useOutbound(
    () => ({ upstreams: { a: 200, b: 200 }, options: { random, clock: Date.now } }),
    new OriginPools(connector),
  );
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
  const mtls = (e: Endpoint): Endpoint => ({ ...e, mtls: true });
  const install = () => {
    f.table = new RouteTable(
      routesOf([mtls(ep(f.up('a'))), mtls(ep(f.up('b')))], {
        outlierDetection: { consecutiveFailures: 1 },
        retries: { backoffBaseMs: 0, maxRetries: 2 },
      }),
      'control-plane',
      0,
      deps,
      f.table,
    );
  };
  const reported = () => recorder.take(1000)?.endpoints ?? [];

  beforeEach(() => {
    recorder = new ObservationRecorder(0);
    f.resetUpstreams();
    install();
  });

  it('with no workload certificate yet, a call is answered 503 MESHLET_IDENTITY_UNAVAILABLE, not blamed on the endpoint', async () => {
    const answer = await send(f.port);
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: { code: 'MESHLET_IDENTITY_UNAVAILABLE', message: expect.stringContaining('no workload certificate yet') },
    });
    // One attempt, no retry: another endpoint would fail the same way.
    expect(answer.body).not.toContain(';');
    expect(reported()).toEqual([]);
  });

  it('with its own certificate expired, a call says when it expired, and no endpoint is blamed', async () => {
    const expiredAt = clock.now - 60_000;
    identity.set({ notAfterMs: expiredAt, trustDomain: 'meshlet.local' } as WorkloadCertificate);
    for (let i = 0; i < 3; i++) {
      const answer = await send(f.port);
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({
        error: {
          code: 'MESHLET_IDENTITY_UNAVAILABLE',
          message: expect.stringContaining(`expired at ${new Date(expiredAt).toISOString()}`),
        },
      });
    }
    expect(reported()).toEqual([]);
    expect(f.up('a').hits + f.up('b').hits).toBe(0);
  });

  it('a tunnel (an upgrade) with an expired own certificate fails with the same clear error', async () => {
    const expiredAt = clock.now - 1;
    identity.set({ notAfterMs: expiredAt, trustDomain: 'meshlet.local' } as WorkloadCertificate);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: f.port,
        headers: { host: 'svc', connection: 'Upgrade', upgrade: 'websocket' },
      });
      req.on('upgrade', () => reject(new Error('upgraded without a valid certificate')));
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: {
        code: 'MESHLET_IDENTITY_UNAVAILABLE',
        message: expect.stringContaining(`expired at ${new Date(expiredAt).toISOString()}`),
      },
    });
    expect(reported()).toEqual([]);
  });
});
