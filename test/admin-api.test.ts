import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER, startDbMesh } from './harness/admin-api.js';
import { type ControlPlaneHandle, withMesh } from './harness/mesh.js';

// The admin API through a real control plane with real agents: the reads of
// every route, the log level, the OpenAPI document, and the tokens. Policy
// writes are in policies.test.ts, drains and manual failover in
// drain-and-failover.test.ts, restart, backup and restore in
// persistence.test.ts.

describe('admin API', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  beforeAll(async () => {
    ({ cp } = await startDbMesh(mesh, { auth: { adminToken: ADMIN, readOnlyToken: READER } }));
  });

  it('serves reads: services, instances, agents, events, rings, failover, convergence, metrics, health', async () => {
    const services = await api(cp, 'GET', '/v1/services');
    expect(services.status).toBe(200);
    expect(services.body.services.map((s: { name: string }) => s.name)).toEqual(['db']);
    const db = await api(cp, 'GET', '/v1/services/db');
    expect(db.body).toMatchObject({
      name: 'db',
      healthy: 2,
      total: 2,
      activeTier: 0,
      policy: { balancer: { kind: 'round_robin' } },
    });
    expect((await api(cp, 'GET', '/v1/services/nope')).body.error).toMatchObject({ code: 'MESHLET_NOT_FOUND' });
    expect((await api(cp, 'GET', '/v1/services/Not_A_Name')).body.error).toMatchObject({
      code: 'MESHLET_API_INVALID',
      field: 'name',
    });

    const instances = await api(cp, 'GET', '/v1/instances');
    expect(
      instances.body.items.map((i: { id: string; service: string; state: string }) => [i.id, i.service, i.state]),
    ).toEqual([
      ['db-1', 'db', 'healthy'],
      ['db-2', 'db', 'healthy'],
    ]);
    expect((await api(cp, 'GET', '/v1/instances/db-1')).body).toMatchObject({ id: 'db-1', tier: 0, state: 'healthy' });
    expect((await api(cp, 'GET', '/v1/instances/db-9')).status).toBe(404);

    const agents = await api(cp, 'GET', '/v1/agents');
    expect(agents.body.agents.map((a: { agentId: string }) => a.agentId)).toEqual(['client', 'db-1', 'db-2']);
    expect((await api(cp, 'GET', '/v1/agents/client')).body).toMatchObject({
      agentId: 'client',
      connected: true,
      subscriptions: ['db'],
      inSync: true,
    });
    expect((await api(cp, 'GET', '/v1/agents/ghost')).status).toBe(404);

    expect((await api(cp, 'GET', '/v1/events?service=db&kind=health')).body.events.length).toBeGreaterThanOrEqual(2);
    expect((await api(cp, 'GET', '/v1/events?kind=nope')).body.error).toMatchObject({ code: 'MESHLET_API_INVALID' });
    expect((await api(cp, 'GET', '/v1/rings')).body).toEqual({ rings: [] });
    expect((await api(cp, 'GET', '/v1/failover')).body.services[0]).toMatchObject({ service: 'db', activeTier: 0 });
    expect((await api(cp, 'GET', '/v1/convergence')).status).toBe(200);
    expect((await api(cp, 'GET', '/metrics')).body).toContain('meshlet_cp_convergence_seconds');
    expect((await api(cp, 'GET', '/healthz', undefined, null)).status).toBe(200);
  });

  it('changes the log level at runtime, and exports health gauges', async () => {
    expect((await api(cp, 'GET', '/v1/log-level', undefined, READER)).body).toEqual({ level: 'info' });
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'debug' }, READER)).status).toBe(403);
    const bad = await api(cp, 'PUT', '/v1/log-level', { level: 'loud' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('level');
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'debug' })).body).toEqual({ level: 'debug' });
    expect((await api(cp, 'PUT', '/v1/log-level', { level: 'info' })).body).toEqual({ level: 'info' });
    const metrics = (await api(cp, 'GET', '/metrics', undefined, READER)).body as string;
    expect(metrics).toContain('meshlet_cp_instance_healthy{service="db",instance="db-1"} 1');
    expect(metrics).toContain('meshlet_cp_service_healthy_endpoints{service="db"} 2');
    expect(metrics).toContain('meshlet_cp_service_endpoints{service="db"} 2');
  });

  it('serves the OpenAPI document and a browsable page generated from the route schemas', async () => {
    // The API's description holds no data: it needs no token, so a browser can open the page.
    const doc = await api(cp, 'GET', '/docs/json', undefined, null);
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/policies/{name}',
      '/v1/instances/{id}/drain',
      '/v1/services/{name}/failover',
      '/v1/snapshots/restore',
      '/v1/events/stream',
    ]) {
      expect(Object.keys(doc.body.paths)).toContain(path);
    }
    expect(doc.body.paths['/v1/policies/{name}'].put.requestBody.content['application/json'].schema.required).toEqual([
      'policy',
    ]);
    const page = await api(cp, 'GET', '/docs', undefined, null);
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('<html');
  });

  it('refuses requests without the right token: 401 without or with a wrong one, 403 for the read-only token writing', async () => {
    expect((await api(cp, 'GET', '/v1/services', undefined, null)).status).toBe(401);
    const wrong = await api(cp, 'GET', '/v1/services', undefined, 'x'.repeat(30));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('MESHLET_UNAUTHORIZED');
    expect((await api(cp, 'GET', '/v1/services', undefined, READER)).status).toBe(200);
    const write = await api(cp, 'PUT', '/v1/policies/db', { policy: {} }, READER);
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('MESHLET_FORBIDDEN');
  });
});
