import { beforeAll, describe, expect, it } from 'vitest';
import { getJson, httpRequest } from './harness/http.js';
import { type AgentHandle, type AppHandle, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// A control plane, hello x2 and orders x2 (demo app + agent each), and a
// client agent: all real processes on loopback.
describe('routing through the mesh', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;
  let apps: Record<string, AppHandle>;

  beforeAll(async () => {
    // Panic mode off for orders (so "no healthy endpoint" is a 503, not traffic
    // to unhealthy instances) and outlier detection off for hello (so the
    // resetting instance is not ejected mid-test): those have tests of their own.
    ({ cp, client, apps } = await mesh.start({
      controlPlane: {
        services: {
          orders: { tiers: { panicThresholdPercent: 0 } },
          hello: { outlierDetection: { consecutiveFailures: 0 } },
        },
      },
      instances: { hello: ['hello-1', 'hello-2'], orders: ['orders-1', 'orders-2'] },
      client: { calls: ['hello', 'orders'] },
    }));
  });

  it('answers 200 to repeated curl -x style requests and reaches both hello instances', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const a = await httpRequest(client.outboundPort as number, 'http://hello/');
      expect(a.status).toBe(200);
      const body = a.json();
      expect(body.service).toBe('hello');
      expect(a.headers['x-instance']).toBe(body.instance);
      seen.set(body.instance, (seen.get(body.instance) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['hello-1', 'hello-2']);
    // Round robin: an even split.
    expect(seen.get('hello-1')).toBe(10);
  });

  it('routes by Host header as well as by absolute URL, keeping path and query', async () => {
    const a = await httpRequest(client.outboundPort as number, '/items?id=7', { headers: { host: 'orders' } });
    expect(a.status).toBe(200);
    expect(a.json()).toMatchObject({ service: 'orders', path: '/items?id=7' });
  });

  it('forwards a POST body through both listeners', async () => {
    const a = await httpRequest(client.outboundPort as number, 'http://orders/new', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"qty":2}',
    });
    expect(a.status).toBe(200);
    expect(a.json()).toMatchObject({ service: 'orders', method: 'POST', path: '/new' });
  });

  it('answers a JSON 404 naming an unknown service', async () => {
    const a = await httpRequest(client.outboundPort as number, 'http://payments/');
    expect(a.status).toBe(404);
    expect(a.headers['x-meshlet-error']).toBe('MESHLET_UNKNOWN_SERVICE');
    expect(a.json().error).toMatchObject({ code: 'MESHLET_UNKNOWN_SERVICE', service: 'payments' });
    expect(a.json().error.message).toContain('"payments"');
  });

  it('answers a JSON 400 when no service is named', async () => {
    const a = await httpRequest(client.outboundPort as number, '/', { headers: { host: '' } });
    expect(a.status).toBe(400);
    expect(a.json().error.code).toBe('MESHLET_BAD_REQUEST');
  });

  it('takes an instance whose health check fails out of the table, and back when it passes', async () => {
    await (apps['orders-1'] as AppHandle).setFault('unhealthy');
    await waitFor(
      'orders-1 to leave the client table',
      async () => (await endpointIds(client, 'orders')).join() === 'orders-2',
    );
    const services = await getJson(cp.port, '/v1/services');
    const orders1 = services.services
      .find((s: { name: string }) => s.name === 'orders')
      .instances.find((i: { id: string }) => i.id === 'orders-1');
    expect(orders1).toMatchObject({ state: 'unhealthy' });
    expect(orders1.reason).toContain('503');
    for (let i = 0; i < 6; i++) {
      const a = await httpRequest(client.outboundPort as number, 'http://orders/');
      expect(a.headers['x-instance']).toBe('orders-2');
    }
    await (apps['orders-1'] as AppHandle).setFault('none');
    await waitFor(
      'orders-1 to return',
      async () => (await endpointIds(client, 'orders')).join() === 'orders-1,orders-2',
    );
  });

  it('answers a JSON 503 saying why when a service has no healthy endpoint (panic mode off)', async () => {
    await (apps['orders-1'] as AppHandle).setFault('unhealthy');
    await (apps['orders-2'] as AppHandle).setFault('unhealthy');
    await waitFor('orders to have no endpoint', async () => (await endpointIds(client, 'orders')).length === 0);
    const a = await httpRequest(client.outboundPort as number, 'http://orders/');
    expect(a.status).toBe(503);
    expect(a.json().error).toMatchObject({ code: 'MESHLET_NO_HEALTHY_ENDPOINT', service: 'orders' });
    await (apps['orders-1'] as AppHandle).setFault('none');
    await (apps['orders-2'] as AppHandle).setFault('none');
    await waitFor('orders to recover', async () => (await endpointIds(client, 'orders')).length === 2);
  });

  it('passes app errors through unchanged: a 500 from the app is not the mesh failing', async () => {
    await (apps['hello-1'] as AppHandle).setFault('error');
    const statuses = new Set<number>();
    for (let i = 0; i < 4; i++)
      statuses.add((await httpRequest(client.outboundPort as number, 'http://hello/')).status);
    await (apps['hello-1'] as AppHandle).setFault('none');
    expect([...statuses].sort()).toEqual([200, 500]);
  });

  it('retries a GET on the other instance when one resets connections, but never a POST', async () => {
    await (apps['hello-1'] as AppHandle).setFault('reset');
    try {
      for (let i = 0; i < 6; i++) {
        const a = await httpRequest(client.outboundPort as number, 'http://hello/');
        expect(a.status).toBe(200);
        expect(a.headers['x-instance']).toBe('hello-2');
      }
      const posts = [];
      for (let i = 0; i < 4; i++)
        posts.push(await httpRequest(client.outboundPort as number, 'http://hello/', { method: 'POST', body: 'x' }));
      const reset = posts.filter((p) => p.status === 502);
      expect(reset.length).toBe(2);
      expect(reset[0]?.json().error.code).toBe('MESHLET_APP_RESET');
    } finally {
      await (apps['hello-1'] as AppHandle).setFault('none');
    }
  });

  it('reports the agents, their applied versions and readiness', async () => {
    const agents = await getJson(cp.port, '/v1/agents');
    expect(agents.agents).toHaveLength(5);
    await waitFor('every agent to ACK the newest table', async () => {
      const a = await getJson(cp.port, '/v1/agents');
      return a.agents.every((x: { inSync: boolean }) => x.inSync);
    });
    const ready = await getJson(client.adminPort, '/ready');
    expect(ready).toMatchObject({ ready: true, source: 'control-plane' });
  });
});
