import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER, startDbMesh } from './harness/admin-api.js';
import { type AgentHandle, agentTable, type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// What a real control plane keeps of what the admin API wrote: policies and
// drains across a restart, then backup, a wiped data directory, and restore,
// which the agents converge on.

describe('persistence through the admin API', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let extra: Record<string, unknown>;
  let cp: ControlPlaneHandle;
  let client: AgentHandle;

  beforeAll(async () => {
    extra = { auth: { adminToken: ADMIN, readOnlyToken: READER } };
    ({ cp, client } = await startDbMesh(mesh, extra));
  });

  it('keeps API policies and drains across a restart', async () => {
    // The policy the policy tests leave behind (they ran first in this mesh before the split).
    expect((await api(cp, 'PUT', '/v1/policies/db', { policy: { balancer: { kind: 'peak_ewma' } } })).status).toBe(200);
    await api(cp, 'POST', '/v1/instances/db-2/drain');
    const before = (await api(cp, 'GET', '/v1/policies/db')).body;
    expect(before.source).toBe('api');
    // An open event stream does not hold up a clean shutdown.
    const controller = new AbortController();
    const stream = await fetch(`${cp.url}/v1/events/stream`, {
      headers: { authorization: `Bearer ${READER}` },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(await cp.proc.stop('SIGTERM', 8000)).toEqual({ code: 0, signal: null });
    controller.abort();
    cp = await mesh.controlPlane(extra, cp.port);
    expect((await api(cp, 'GET', '/v1/policies/db')).body).toEqual(before);
    await waitFor(
      'db-2 drained again after the restart',
      async () => (await api(cp, 'GET', '/v1/instances/db-2')).body.state === 'draining',
    );
    await api(cp, 'POST', '/v1/instances/db-2/undrain');
  });

  it('backs up, and after a wiped data directory restores the exact state, which agents converge on', async () => {
    const full = await api(cp, 'GET', '/v1/snapshots/full');
    expect(full.body).toMatchObject({ format: 'meshlet-snapshot/v1', kind: 'full', since: 0 });
    await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'maglev', hashKey: { source: 'header', name: 'x-user' } } },
    });
    await api(cp, 'PUT', '/v1/policies/cache', { policy: { timeouts: { requestMs: 1234 } } });
    // After the restart above, db-1's agent may still be reconnecting: wait for it, then drain it.
    await waitFor(
      'db-1 back after the restart',
      async () => (await api(cp, 'GET', '/v1/instances/db-1')).body.state === 'healthy',
    );
    expect((await api(cp, 'POST', '/v1/instances/db-1/drain')).status).toBe(200);
    const inc = await api(cp, 'GET', `/v1/snapshots/incremental?since=${full.body.revision}`);
    expect(inc.body).toMatchObject({ kind: 'incremental', since: full.body.revision });
    expect((await api(cp, 'GET', '/v1/snapshots/incremental?since=abc')).status).toBe(400);
    // The state, without the store's revisions (a restore writes afresh, so resource versions are new).
    const state = async () =>
      (await api(cp, 'GET', '/v1/policies')).body.items.map(
        ({ resourceVersion: _rv, ...item }: { resourceVersion: string }) => item,
      );
    const want = await state();
    expect(want.map((i: { service: string }) => i.service)).toEqual(['cache', 'db']);

    await cp.proc.stop();
    rmSync(join(scratch.dir, 'cp-data'), { recursive: true, force: true });
    cp = await mesh.controlPlane(extra, cp.port);
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([]);

    // A corrupted, a truncated and a foreign file are refused and change nothing.
    const corrupted = structuredClone(inc.body);
    corrupted.entries[0].modRevision += 1;
    for (const [snapshots, problem] of [
      [[full.body, corrupted], /checksum/],
      [[{ ...full.body, entries: undefined }], /./],
      [[{ hello: 'world' }], /not a meshlet snapshot/],
      [[inc.body], /full/],
    ] as const) {
      const r = await api(cp, 'POST', '/v1/snapshots/restore', { snapshots });
      expect(r.status).toBe(400);
      expect(r.body.error.message).toMatch(problem);
    }
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([]);

    const restored = await api(cp, 'POST', '/v1/snapshots/restore', { snapshots: [full.body, inc.body] });
    expect(restored.status).toBe(200);
    // cluster, services, the two policies, the drain, and the join credentials of db-1, db-2 and the client
    // (the wiped control plane refused the agents until the restore brought their credentials back)
    expect(restored.body.restored.keys).toBe(8);

    expect(await state()).toEqual(want);
    await waitFor(
      'db-1 drained after the restore',
      async () => (await api(cp, 'GET', '/v1/instances/db-1')).body.state === 'draining',
    );
    await waitFor('the client to converge on the restored policy', async () => {
      const db = ((await agentTable(client)) as any).services.db;
      return (
        db.policy.balancer.kind === 'maglev' &&
        db.endpoints.find((e: { id: string }) => e.id === 'db-1').health === 'draining'
      );
    });
  });
});
