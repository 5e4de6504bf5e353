import { connect } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER, startDbMesh } from './harness/admin-api.js';
import { type AgentHandle, agentTable, type ControlPlaneHandle, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

// Policy writes through the admin API of a real control plane, with a real
// client agent: bad bodies refused (nothing written), then optimistic
// concurrency on resourceVersion and the push to the callers, in this order.

/** Sends a PUT whose headers declare `length` bytes of JSON but only a few of them, and returns the raw answer. */
function declaredTooLarge(port: number, path: string, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.on('connect', () => {
      socket.write(
        `PUT ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ADMIN}\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n{"policy":{},"pad":"xxxx`,
      );
    });
    socket.on('data', (d) => {
      answer += d.toString('utf8');
      if (answer.includes('\r\n\r\n') && answer.includes('}')) socket.end();
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', (e) => (answer ? resolve(answer) : reject(e)));
  });
}

describe('policies through the admin API', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;
  let client: AgentHandle;

  beforeAll(async () => {
    ({ cp, client } = await startDbMesh(mesh, { auth: { adminToken: ADMIN, readOnlyToken: READER } }));
  });

  it('validates policy writes: missing field, wrong type, unknown field, out of range, oversized', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'policy'],
      [{ policy: { retries: { maxRetries: 'two' } } }, 'policy.retries.maxRetries'],
      [{ policy: { balancer: { kind: 'round_robin' } }, colour: 'blue' }, 'colour'],
      [{ policy: { retries: { maxRetries: 1000 } } }, 'policy.retries.maxRetries'],
      [{ policy: { balancer: { kind: 'fastest' } } }, 'policy.balancer.kind'],
    ];
    for (const [body, field] of cases) {
      const r = await api(cp, 'PUT', '/v1/policies/db', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('MESHLET_API_INVALID');
      expect(r.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    const notJson = await api(cp, 'PUT', '/v1/policies/db', '{"policy":');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('MESHLET_API_INVALID');
    // The control plane answers from the declared length, before the body: the
    // request declares 2 MiB and sends a little of it (a client writing the
    // whole body could meet the closed connection, EPIPE, before reading the answer).
    const big = await declaredTooLarge(cp.port, '/v1/policies/db', 2 * 1024 * 1024);
    expect(big).toMatch(/^HTTP\/1\.1 413 /);
    expect(big).toContain('MESHLET_API_TOO_LARGE');
    // Nothing was written.
    expect((await api(cp, 'GET', '/v1/policies/db')).body).toMatchObject({ source: 'default', resourceVersion: null });
  });

  it('writes policies with optimistic concurrency and pushes them to the callers', async () => {
    const created = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'least_request' } },
      resourceVersion: '0',
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      service: 'db',
      source: 'api',
      policy: { balancer: { kind: 'least_request' }, retries: { maxRetries: 2 } },
    });
    const rv = created.body.resourceVersion as string;
    await waitFor(
      'the client to get the new policy',
      async () =>
        (await agentTable(client))?.services.db &&
        ((await agentTable(client)) as any).services.db.policy.balancer.kind === 'least_request',
    );

    const stale = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'random' } },
      resourceVersion: '0',
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('MESHLET_CONFLICT');
    const updated = await api(cp, 'PUT', '/v1/policies/db', {
      policy: { balancer: { kind: 'peak_ewma' } },
      resourceVersion: rv,
    });
    expect(updated.status).toBe(200);
    expect(Number(updated.body.resourceVersion)).toBeGreaterThan(Number(rv));
    expect((await api(cp, 'GET', '/v1/policies')).body.items).toEqual([updated.body]);

    expect((await api(cp, 'DELETE', `/v1/policies/db?resourceVersion=${rv}`)).status).toBe(409);
    expect((await api(cp, 'DELETE', '/v1/policies/orders')).status).toBe(404);
  });
});
