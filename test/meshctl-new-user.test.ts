import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { api } from './harness/admin-api.js';
import { type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { meshctl, rowOf } from './harness/meshctl.js';
import { waitFor } from './harness/wait.js';

// What a new user met with meshctl (issue 17): a wrong status for an unknown
// service, allowed values listed twice, API routes named where a meshctl
// command was meant, and "no policies found" while defaults are in force.

const ADMIN = 'meshctl-new-user-token-0123456789';

describe('meshctl as a new user meets it', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  let env: Record<string, string>;
  const run = (...args: string[]) => meshctl(args, { env, home: scratch.dir });

  beforeAll(async () => {
    ({ cp } = await mesh.start({
      controlPlane: { auth: { adminToken: ADMIN } },
      instances: {
        db: [
          { id: 'db-1', tier: 0 },
          { id: 'db-2', tier: 1 },
        ],
        hello: ['hello-1'],
      },
    }));
    env = { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: ADMIN };
    await waitFor('db and hello registered', async () => {
      const r = await run('get', 'services', '-o', 'json');
      return r.code === 0 && JSON.parse(r.stdout).services.length === 2;
    });
  });

  it('failover and failback of an unknown service answer 404 MESHLET_NOT_FOUND, not "no backup tier" (409)', async () => {
    for (const action of ['failover', 'failback']) {
      const r = await run(action, 'nosuch');
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `meshctl: ${action} nosuch: no service "nosuch"; see meshctl get services (404 MESHLET_NOT_FOUND)\n`,
      );
      const answer = await api(cp, 'POST', `/v1/services/nosuch/${action}`, undefined, ADMIN);
      expect(answer.status).toBe(404);
      expect(answer.body.error).toEqual({
        code: 'MESHLET_NOT_FOUND',
        message: 'no service "nosuch"; see GET /v1/services',
      });
    }
    // A known service with one tier is still a conflict: it exists, it has no backup tier.
    expect((await run('failover', 'hello')).stderr).toMatch(/no backup tier \(409 MESHLET_CONFLICT\)\n$/);
  });

  it('an invalid balancer.kind lists each allowed value once', async () => {
    const file = join(scratch.dir, 'bad-kind.yaml');
    writeFileSync(file, 'kind: Policy\nservice: db\npolicy:\n  balancer: { kind: fastest }\n');
    const r = await run('apply', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('policy.balancer.kind');
    for (const kind of ['round_robin', 'weighted', 'random', 'least_request', 'peak_ewma', 'ring_hash', 'maglev'])
      expect(r.stderr.split(`"${kind}"`).length - 1, `${kind} in: ${r.stderr}`).toBe(1);
  });

  it('drain of an unknown instance points to meshctl get instances, the API to GET /v1/instances', async () => {
    const r = await run('drain', 'nosuch-1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('see meshctl get instances');
    expect(r.stderr).not.toContain('/v1/');
    const answer = await api(cp, 'POST', '/v1/instances/nosuch-1/drain', {}, ADMIN);
    expect(answer.status).toBe(404);
    expect(answer.body.error.message).toContain('see GET /v1/instances');
  });

  it('get policies shows the defaults in force, marked as defaults, in the table and in -o json', async () => {
    const table = await run('get', 'policies');
    expect(table.code).toBe(0);
    expect(table.stderr).toBe('');
    expect(rowOf(table.stdout, 'db')).toEqual(['db', 'default', 'round_robin', '-']);
    expect(rowOf(table.stdout, 'hello')).toEqual(['hello', 'default', 'round_robin', '-']);
    const doc = JSON.parse((await run('get', 'policies', '-o', 'json')).stdout);
    expect(doc.items).toEqual([]);
    expect(doc.defaults).toMatchObject({ services: ['db', 'hello'], policy: { balancer: { kind: 'round_robin' } } });

    const file = join(scratch.dir, 'hello.yaml');
    writeFileSync(file, 'kind: Policy\nservice: hello\npolicy:\n  balancer: { kind: random }\n');
    expect((await run('apply', '-f', file)).code).toBe(0);
    const after = await run('get', 'policies');
    expect(rowOf(after.stdout, 'hello')?.slice(0, 3)).toEqual(['hello', 'api', 'random']);
    expect(rowOf(after.stdout, 'db')).toEqual(['db', 'default', 'round_robin', '-']);
    const next = JSON.parse((await run('get', 'policies', '-o', 'json')).stdout);
    expect(next.defaults.services).toEqual(['db']);
  });
});
