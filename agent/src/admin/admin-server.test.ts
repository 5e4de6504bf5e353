import { afterAll, describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../metrics.js';
import { StaticWorkloadIdentity } from '../identity/static-workload-identity.js';
import type { WorkloadCertificate } from '../identity/workload-identity.js';
import type { RouteTable } from '../route/route-table.js';
import { createAdminServer } from './admin-server.js';
import { parseLogLevelBody } from './log-level.js';
import { capturedLogger } from '../listener/test-support/log-capture.js';

// The admin listener's /log-level and /metrics, through fastify's inject.

describe('agent admin /log-level and /metrics', () => {
  const { root, lines } = capturedLogger();
  const log = root.child({ agentId: 'a1' });
  // Made before the change, as the agent's components are.
  const outbound = log.child({ component: 'outbound' });
  const metrics = createAgentMetrics({ controlPlaneConnected: () => true, tableVersion: () => 7 });
  const app = createAdminServer(
    {
      agentId: 'a1',
      table: () => undefined,
      listening: () => true,
      controlPlane: () => ({ connected: true, url: 'ws://x', urls: ['ws://x'], lastClose: undefined }),
      appHealth: () => undefined,
      subscriptions: () => ({ declared: [], learned: [] }),
      ringChecksums: () => undefined,
      metrics: metrics.registry,
    },
    log,
  );
  afterAll(() => app.close());

  it('answers the level in force', async () => {
    const r = await app.inject({ method: 'GET', url: '/log-level' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ level: 'info' });
  });

  it('changes the level of every logger at once, and says so in the log', async () => {
    expect(outbound.isLevelEnabled('debug')).toBe(false);
    const r = await app.inject({ method: 'PUT', url: '/log-level', payload: { level: 'debug' } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ level: 'debug' });
    expect(outbound.isLevelEnabled('debug')).toBe(true);
    expect(log.child({ component: 'later' }).isLevelEnabled('debug')).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/log-level' })).json()).toEqual({ level: 'debug' });
    expect(lines.find((l) => l.msg === 'log level changed through the admin listener')).toMatchObject({
      from: 'info',
      to: 'debug',
    });
    await app.inject({ method: 'PUT', url: '/log-level', payload: { level: 'error' } });
    expect(outbound.isLevelEnabled('warn')).toBe(false);
    await app.inject({ method: 'PUT', url: '/log-level', payload: { level: 'info' } });
    expect(outbound.level).toBe('info');
  });

  it.each([
    [
      { level: 'verbose' },
      'field "level" must be one of trace, debug, info, warn, error, fatal, silent; got "verbose"',
    ],
    [{ level: 3 }, 'field "level" must be one of'],
    [{}, 'field "level" is required'],
    [{ level: 'info', extra: 1 }, 'unknown field "extra"'],
    [['info'], 'the body must be a JSON object'],
  ])('refuses %j with a 400 naming the field', async (payload, message) => {
    const r = await app.inject({ method: 'PUT', url: '/log-level', payload: payload as object });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('MESHLET_BAD_REQUEST');
    expect(r.json().error.message).toContain(message);
    expect(r.json().error.field).toBe('level');
    expect(log.level).toBe('info');
  });

  it('refuses a body that is not JSON in the same shape', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/log-level',
      headers: { 'content-type': 'application/json' },
      payload: '{level',
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.code).toBe('MESHLET_BAD_REQUEST');
  });

  it('parses the body without a server', () => {
    expect(parseLogLevelBody({ level: 'trace' })).toEqual({ level: 'trace' });
    expect(parseLogLevelBody(null)).toHaveProperty('error');
  });

  it('serves the metrics in the Prometheus text format', async () => {
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(r.body).toContain('meshlet_agent_control_plane_connected 1');
    expect(r.body).toContain('meshlet_agent_routing_table_version 7');
    expect(r.body).toContain('# TYPE meshlet_agent_requests_total counter');
    expect(r.body).toContain('meshlet_agent_process_cpu_seconds_total');
  });
});

describe('agent admin /ready with a workload identity', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  const identity = new StaticWorkloadIdentity();
  const app = createAdminServer(
    {
      agentId: 'a1',
      table: () => ({ version: 3, source: 'control-plane' }) as RouteTable,
      listening: () => true,
      controlPlane: () => ({ connected: false, url: 'ws://x', urls: ['ws://x'], lastClose: undefined }),
      appHealth: () => undefined,
      subscriptions: () => ({ declared: [], learned: [] }),
      ringChecksums: () => undefined,
      identity,
      clock: () => now,
    },
    capturedLogger().root,
  );
  afterAll(() => app.close());
  const ready = async () => {
    const r = await app.inject({ method: 'GET', url: '/ready' });
    return { status: r.statusCode, body: r.json() as { ready: boolean; reason?: string } };
  };

  it('an agent whose own certificate expired is not ready, and says when it expired', async () => {
    expect((await ready()).body.reason).toContain('no workload certificate yet');
    identity.set({ notAfterMs: now + 60_000 } as WorkloadCertificate);
    expect(await ready()).toMatchObject({ status: 200, body: { ready: true } });
    identity.set({ notAfterMs: now } as WorkloadCertificate);
    const expired = await ready();
    expect(expired.status).toBe(503);
    expect(expired.body).toMatchObject({
      ready: false,
      reason: expect.stringContaining('expired at 2026-12-04T12:00:00.000Z'),
    });
  });
});
