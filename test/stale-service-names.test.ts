import { once } from 'node:events';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { httpRequest } from './harness/http.js';
import type { ControlPlaneHandle } from './harness/mesh.js';
import { withMesh } from './harness/mesh.js';
import { meshctl } from './harness/meshctl.js';
import { waitFor } from './harness/wait.js';

const ADMIN = 'admin-7c2e9a4b1d3f5e60';
const JOIN = 'join-4e1a9c7b2d5f8e30';
const as = { headers: { authorization: `Bearer ${ADMIN}` } };
const json = { headers: { ...as.headers, 'content-type': 'application/json' } };
const AUTH = { adminToken: ADMIN, joinToken: JOIN, allowSharedJoinToken: true };

/**
 * A registration written by hand, as an attacker holding a join token would:
 * hello with an instance of `service`, its app reported healthy (which makes
 * the control plane remember the name), the stream left open until closed.
 */
async function register(cp: ControlPlaneHandle, service: string): Promise<WebSocket> {
  // The credential at the upgrade too, as meshlet agents send it: strangers without it are capped per address.
  const ws = new WebSocket(cp.streamUrl, { headers: { authorization: `Bearer ${JOIN}` } });
  const admitted = new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      if (JSON.parse(String(d)).type === 'routes') resolve();
    });
    ws.on('close', (code, reason) => reject(new Error(`${service} refused: ${code} ${String(reason)}`)));
  });
  await once(ws, 'open');
  ws.send(
    JSON.stringify({
      type: 'hello',
      protocolVersion: 1,
      tableVersion: 0,
      agentId: service,
      joinToken: JOIN,
      instance: { service, id: service, host: '127.0.0.1', port: 15000, tier: 0, weight: 1, labels: {} },
    }),
  );
  await admitted;
  ws.send(JSON.stringify({ type: 'health', status: 'healthy' }));
  return ws;
}

const serviceNames = async (cp: ControlPlaneHandle): Promise<string[]> =>
  (await httpRequest(cp.port, '/v1/services', as)).json().services.map((s: { name: string }) => s.name);

describe('stale service names: 500 fake registrations', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: AUTH, registry: { forgetAfterMs: 0, serviceExpiryMs: 1500 } });
  });

  it('are all gone once they have had no instance and no policy for registry.serviceExpiryMs', async () => {
    const fakes = Array.from({ length: 500 }, (_, i) => `fake-${i}`);
    for (let i = 0; i < fakes.length; i += 50) {
      const batch = await Promise.all(fakes.slice(i, i + 50).map((s) => register(cp, s)));
      await waitFor('the batch to be listed healthy', async () => {
        const listed = (await httpRequest(cp.port, '/v1/services', as)).json().services as Array<any>;
        const healthy = new Set(listed.filter((s) => s.healthy === 1).map((s) => s.name));
        return fakes.slice(i, i + 50).every((s) => healthy.has(s));
      });
      for (const ws of batch) ws.close();
    }
    await waitFor(
      'the 500 fake names to expire',
      async () => (await serviceNames(cp)).filter((n) => n.startsWith('fake-')).length === 0,
      { timeoutMs: 30_000 },
    );
    await waitFor('the log to say so', async () => cp.proc.output.includes('forgot services unused'));
  });
});

describe('DELETE /v1/services/NAME and meshctl delete service', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let env: Record<string, string>;
  const del = (name: string, headers: Record<string, string> = as.headers) =>
    httpRequest(cp.port, `/v1/services/${name}`, { method: 'DELETE', headers });
  const forgotten = async (agentId: string) =>
    (await httpRequest(cp.port, '/v1/agents', as)).json().agents.every((a: any) => a.agentId !== agentId);

  beforeAll(async () => {
    // Expiry off: only the operator removes names here.
    cp = await mesh.controlPlane({ auth: AUTH, registry: { forgetAfterMs: 0, serviceExpiryMs: 0 } });
    env = { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: ADMIN };
  });

  it('is refused (409, naming the instance) while an instance is listed, and forgets the name once none is', async () => {
    const ws = await register(cp, 'typo');
    await waitFor('typo to be listed', async () => (await serviceNames(cp)).includes('typo'));
    const held = await del('typo');
    expect(held.status).toBe(409);
    expect(held.json().error).toMatchObject({ code: 'MESHLET_CONFLICT', message: expect.stringContaining('typo') });
    expect(held.json().error.message).toContain('instance(s) listed');

    ws.close();
    await waitFor('the instance to be forgotten', () => forgotten('typo'));
    expect((await serviceNames(cp)).includes('typo')).toBe(true);
    const done = await del('typo');
    expect(done.status).toBe(200);
    expect(done.json()).toEqual({ service: 'typo', deleted: true });
    expect(await serviceNames(cp)).not.toContain('typo');
    expect((await del('typo')).status).toBe(404);
  });

  it('is refused (409, naming the fix) while a policy names the service', async () => {
    const put = await httpRequest(cp.port, '/v1/policies/legacy', {
      method: 'PUT',
      ...json,
      body: JSON.stringify({ policy: { timeouts: { requestMs: 5000 } } }),
    });
    expect(put.status).toBe(200);
    const held = await del('legacy');
    expect(held.status).toBe(409);
    expect(held.json().error.message).toContain('meshctl delete policy legacy');
    expect((await httpRequest(cp.port, '/v1/policies/legacy', { method: 'DELETE', headers: as.headers })).status).toBe(
      200,
    );
    expect((await del('legacy')).status).toBe(404);
  });

  it('needs an admin token', async () => {
    const ws = await register(cp, 'needs-admin');
    ws.close();
    const r = await del('needs-admin', { authorization: 'Bearer not-the-admin-token-at-all' });
    expect(r.status).toBe(401);
  });

  it('meshctl delete service NAME forgets the name, and says why it cannot when it cannot', async () => {
    const ws = await register(cp, 'old-svc');
    const refused = await meshctl(['delete', 'service', 'old-svc'], { env, home: mesh.scratch.dir });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('instance(s) listed');
    ws.close();
    await waitFor('the instance to be forgotten', () => forgotten('old-svc'));
    const done = await meshctl(['delete', 'service', 'old-svc'], { env, home: mesh.scratch.dir });
    expect(done).toMatchObject({ code: 0, stdout: 'service/old-svc deleted\n' });
    expect(await serviceNames(cp)).not.toContain('old-svc');
  });
});

describe('table budget at the admin API', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: AUTH });
  });

  it('refuses policies for 1000 services each with maglevTableSize 655373 once over tableBudget.maxHashEntries (422, MESHLET_TABLE_OVER_BUDGET)', async () => {
    let refused: { at: number; status: number; body: any } | undefined;
    for (let i = 0; i < 1000 && refused === undefined; i++) {
      const r = await httpRequest(cp.port, `/v1/policies/hostile-${i}`, {
        method: 'PUT',
        ...json,
        body: JSON.stringify({ policy: { balancer: { kind: 'maglev', maglevTableSize: 655_373 } } }),
      });
      if (r.status !== 200) refused = { at: i, status: r.status, body: r.json() };
    }
    // 25 tables of 655373 fit in 16777216 entries; the 26th does not.
    expect(refused).toMatchObject({ at: 25, status: 422 });
    expect(refused?.body.error).toMatchObject({
      code: 'MESHLET_TABLE_OVER_BUDGET',
      field: 'policy.balancer',
      message: expect.stringContaining('tableBudget.maxHashEntries (16777216)'),
    });
    expect((await httpRequest(cp.port, '/v1/policies/hostile-25', as)).json().source).toBe('default');
    expect((await httpRequest(cp.port, '/healthz')).status).toBe(200);
  });
});
