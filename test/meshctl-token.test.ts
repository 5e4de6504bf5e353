import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from './harness/http.js';
import { type ControlPlaneHandle, startAgent, startDemoApp, withMesh } from './harness/mesh.js';
import { meshctl, rowOf } from './harness/meshctl.js';
import type { Proc } from './harness/process.js';
import { waitFor } from './harness/wait.js';

// meshctl token create, list and revoke, the built binary against a real
// control plane, and an agent joining with what create printed.

const ADMIN = 'meshctl-admin-token-0123456789';
const READER = 'meshctl-reader-token-0123456789';

describe('meshctl token', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  const procs: Proc[] = [];
  const as = (token: string) => ({ MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: token });
  const run = (token: string, ...args: string[]) => meshctl(args, { env: as(token), home: scratch.dir });
  let credential = '';
  let id = '';

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: { adminToken: ADMIN, readOnlyToken: READER } });
    procs.push(cp.proc);
  });

  it('create prints the credential alone on stdout off a terminal, how to use it on stderr, and an agent joins with it', async () => {
    const r = await run(ADMIN, 'token', 'create', '--service', 'orders', '--ttl', '24h');
    expect(r.code).toBe(0);
    // A pipe: stdout is exactly the credential, as `$(meshctl token create ...)` captures it.
    const m = /^(mjc_([0-9a-f]{16})_[A-Za-z0-9_-]{43})\n$/.exec(r.stdout);
    expect(m).not.toBeNull();
    credential = m?.[1] ?? '';
    id = m?.[2] ?? '';
    expect(r.stderr).toContain('controlPlane.joinToken');
    expect(r.stderr).toContain(`meshctl token revoke ${id}`);
    expect(r.stderr).not.toContain(credential);

    // A backup taken while the credential is active, restored after the revoke below.
    const backup = await run(ADMIN, 'backup', '-f', join(scratch.dir, 'before-revoke.json'));
    expect(backup.code, backup.stderr).toBe(0);

    const app = await startDemoApp('orders', 'orders-1');
    const agent = await startAgent(scratch, {
      agentId: 'orders-1',
      cp,
      instance: { service: 'orders', app },
      joinToken: credential,
    });
    procs.push(agent.proc);
  });

  it('a read-only token may list but not create; list shows ID, SERVICE, CREATED, EXPIRES, STATE and no secret', async () => {
    const denied = await run(READER, 'token', 'create', '--service', 'orders');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('admin token');
    const r = await run(READER, 'token', 'list');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^ID +SERVICE +CREATED +EXPIRES +STATE$/);
    expect(rowOf(r.stdout, id)?.[1]).toBe('orders');
    expect(rowOf(r.stdout, id)?.[4]).toBe('active');
    expect(r.stdout).not.toContain(credential.slice(4 + 17));
    const json = JSON.parse((await run(READER, 'token', 'list', '-o', 'json')).stdout);
    expect(json.items).toEqual([expect.objectContaining({ id, service: 'orders', state: 'active' })]);
  });

  it('refuses a bad ttl and a missing service, naming the fix', async () => {
    const ttl = await run(ADMIN, 'token', 'create', '--service', 'orders', '--ttl', '1.5h');
    expect(ttl.code).toBe(1);
    expect(ttl.stderr).toContain('ttl');
    const service = await run(ADMIN, 'token', 'create');
    expect(service.code).toBe(2);
    expect(service.stderr).toContain('--service');
    const name = await run(ADMIN, 'token', 'create', '--service', 'Orders');
    expect(name.code).toBe(2);
    expect(name.stderr).toContain('is not a service name');
  });

  it('revoke sends the agent away, and list shows the credential revoked', async () => {
    const r = await run(ADMIN, 'token', 'revoke', id);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`join credential ${id} (service orders) revoked`);
    await waitFor('orders-1 to be sent away', async () => {
      const agents = (
        await httpRequest(cp.port, '/v1/agents', { headers: { authorization: `Bearer ${ADMIN}` } })
      ).json().agents as any[];
      return agents.find((a) => a.agentId === 'orders-1')?.connected === false;
    });
    expect(rowOf((await run(READER, 'token', 'list')).stdout, id)?.[4]).toBe('revoked');
    const unknown = await run(ADMIN, 'token', 'revoke', 'ffffffffffffffff');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no join credential');
  });

  it('restoring a backup taken before the revoke does not bring the credential back', async () => {
    const r = await run(ADMIN, 'restore', '-f', join(scratch.dir, 'before-revoke.json'));
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse((await run(READER, 'token', 'list', '-o', 'json')).stdout);
    expect(json.items).toEqual([expect.objectContaining({ id, state: 'revoked' })]);
    const agents = (await httpRequest(cp.port, '/v1/agents', { headers: { authorization: `Bearer ${ADMIN}` } })).json()
      .agents as any[];
    expect(agents.find((a) => a.agentId === 'orders-1')?.connected).not.toBe(true);
  });

  it('never writes the secret to a log', () => {
    const secret = credential.split('_').slice(2).join('_');
    for (const p of procs) expect(p.output, p.name).not.toContain(secret);
  });
});
