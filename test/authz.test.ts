import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api, READER } from './harness/admin-api.js';
import { httpRequest } from './harness/http.js';
import { type AgentHandle, agentTable, type ControlPlaneHandle, endpointIds, withMesh } from './harness/mesh.js';
import { meshctl, rowOf } from './harness/meshctl.js';
import { waitFor } from './harness/wait.js';

// Authorization policies on a real control plane with real agents: the
// config file's and the admin API's policies, their travel to agents in the
// routing table (ServiceRoutes.authz), meshctl apply/get/delete, and
// meshctl authz suggest from real traffic (web's agent calling hello).

/** The authz of `service` in the agent's table (the harness's table type leaves it out). */
async function authzIn(agent: AgentHandle, service: string): Promise<any> {
  const table = (await agentTable(agent)) as { services: Record<string, { authz?: unknown }> } | null;
  return table?.services[service]?.authz;
}

describe('authorization policies', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  let web: AgentHandle;
  let client: AgentHandle;
  let hello: AgentHandle;
  const run = (token: string, args: string[], stdin?: string) =>
    meshctl(args, {
      env: { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: token },
      home: scratch.dir,
      ...(stdin === undefined ? {} : { stdin }),
    });
  const callHello = (from: AgentHandle) =>
    httpRequest(from.outboundPort as number, '/', { headers: { host: 'hello' } });

  beforeAll(async () => {
    cp = await mesh.controlPlane({
      auth: { adminToken: ADMIN, readOnlyToken: READER },
      authz: { web: { mode: 'audit', rules: [{ name: 'ops-only', from: ['ops'] }] } },
    });
    hello = (await mesh.instance(cp, 'hello', 'hello-1')).agent;
    const webApp = (await mesh.instance(cp, 'web', 'web-0')).app;
    // web-1 fronts web and calls hello through its outbound listener: a caller with a service identity.
    web = await mesh.agent({
      agentId: 'web-1',
      cp,
      instance: { service: 'web', app: webApp },
      outbound: true,
      calls: ['hello'],
    });
    // A client-only agent: the harness gives it a credential for service client.
    client = await mesh.agent({ agentId: 'client', cp, outbound: true, calls: ['hello'] });
    for (const a of [web, client])
      await waitFor(`${a.agentId} to see hello-1`, async () => (await endpointIds(a, 'hello')).join() === 'hello-1');
  });

  it("serves the config file's policy, and a service without one has none", async () => {
    const r = await api(cp, 'GET', '/v1/authz/web', undefined, READER);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      source: 'config',
      resourceVersion: null,
      policy: { mode: 'audit', rules: [{ name: 'ops-only', action: 'allow', from: ['ops'] }] },
    });
    expect((await api(cp, 'GET', '/v1/authz/hello')).body).toEqual({
      service: 'hello',
      source: 'none',
      resourceVersion: null,
      policy: null,
    });
    expect(await authzIn(web, 'hello')).toBeUndefined();
  });

  it('refuses a bad policy with 400 naming the field and the fix, and a read-only token with 403; writes nothing', async () => {
    const cases: Array<[unknown, string]> = [
      [{ rules: [{ from: ['Web'] }] }, 'policy.rules.0.from.0'],
      [{ rules: [{ methods: ['get'] }] }, 'policy.rules.0.methods.0'],
      [{ rules: [{ paths: ['api'] }] }, 'policy.rules.0.paths.0'],
      [{ mode: 'dry-run' }, 'policy.mode'],
      // An empty policy: allow-nothing in Istio, allow-all as meshlet read it before; refused, naming the fix.
      [{}, 'policy.rules'],
      [{ rules: [{ paths: ['/x/../admin'] }] }, 'policy.rules.0.paths.0'],
      [{ rules: [{ from: ['spiffe://meshlet.local/web'] }] }, 'policy.rules.0.from.0'],
    ];
    for (const [policy, field] of cases) {
      const r = await api(cp, 'PUT', '/v1/authz/hello', { policy });
      expect(r.status, JSON.stringify(policy)).toBe(400);
      expect(r.body.error.code).toBe('MESHLET_API_INVALID');
      expect(r.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    const reader = await api(cp, 'PUT', '/v1/authz/hello', { policy: {} }, READER);
    expect(reader.status).toBe(403);
    expect((await api(cp, 'GET', '/v1/authz/hello')).body.source).toBe('none');
  });

  it('a policy written through the API travels to the callers in the routing table, and a delete takes it back', async () => {
    const created = await api(cp, 'PUT', '/v1/authz/hello', {
      policy: { rules: [{ name: 'web-reads', from: ['web'], methods: ['GET'] }] },
      resourceVersion: '0',
    });
    expect(created.status).toBe(200);
    const rv = created.body.resourceVersion as string;
    await waitFor('web-1 to hold the policy of hello', async () => (await authzIn(web, 'hello'))?.rules?.length === 1);
    expect(await authzIn(web, 'hello')).toEqual({
      mode: 'enforce',
      rules: [{ name: 'web-reads', action: 'allow', from: ['web'], methods: ['GET'] }],
    });
    const stale = { policy: { rules: [{ from: ['ops'] }] }, resourceVersion: '0' };
    expect((await api(cp, 'PUT', '/v1/authz/hello', stale)).status).toBe(409);
    expect((await api(cp, 'DELETE', `/v1/authz/hello?resourceVersion=${rv}`)).status).toBe(200);
    await waitFor('web-1 to drop the policy of hello', async () => (await authzIn(web, 'hello')) === undefined);
  });

  it('meshctl apply -f writes an AuthorizationPolicy, get authz lists it, delete authz removes it', async () => {
    const file = join(scratch.dir, 'hello-authz.yaml');
    writeFileSync(
      file,
      'kind: AuthorizationPolicy\nservice: hello\npolicy:\n  mode: audit\n  rules:\n    - { name: web-only, from: [web] }\n',
    );
    const applied = await run(ADMIN, ['apply', '-f', file]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/^authorizationpolicy\/hello configured \(resourceVersion \d+\)\n$/);
    const listed = await run(READER, ['get', 'authz']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^SERVICE +SOURCE +MODE +RULES +RESOURCE-VERSION$/);
    expect(rowOf(listed.stdout, 'hello')?.slice(0, 4)).toEqual(['hello', 'api', 'audit', '1']);
    expect(rowOf(listed.stdout, 'web')?.slice(0, 4)).toEqual(['web', 'config', 'audit', '1']);
    const bad = await run(
      ADMIN,
      ['apply', '-f', '-'],
      'kind: AuthorizationPolicy\nservice: hello\npolicy: {mode: lax}\n',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('policy.mode');
    const deleted = await run(ADMIN, ['delete', 'authz', 'hello']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe('authorizationpolicy/hello deleted\n');
  });

  it('meshctl authz suggest writes a policy allowing exactly the callers that sent real traffic; applied, it breaks none of their calls', async () => {
    const none = await run(READER, ['authz', 'suggest', 'web']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no caller of web was seen');

    for (let i = 0; i < 5; i++) {
      expect((await callHello(web)).status).toBe(200);
      expect((await callHello(client)).status).toBe(200);
    }
    // Agents report about once a second.
    const suggested = await waitFor(
      'a suggestion naming web and the client agent (its credential is for service client)',
      async () => {
        const r = await run(READER, ['authz', 'suggest', 'hello']);
        return r.code === 0 && r.stdout.includes('- client') && r.stdout.includes('- web') ? r : undefined;
      },
      { intervalMs: 500 },
    );
    expect(suggested.stdout).toMatch(/^# Suggested by meshctl authz suggest hello/);
    expect(suggested.stdout).toMatch(/# {3}web: \d+ requests/);
    expect(suggested.stdout).toContain(
      'kind: AuthorizationPolicy\nservice: hello\npolicy:\n  mode: enforce\n  rules:\n    - name: seen-callers\n      action: allow\n      from:\n        - client\n        - web\n',
    );

    const applied = await run(ADMIN, ['apply', '-f', '-'], suggested.stdout);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await api(cp, 'GET', '/v1/authz/hello')).body.policy).toEqual({
      mode: 'enforce',
      rules: [{ name: 'seen-callers', action: 'allow', from: ['client', 'web'] }],
    });
    await waitFor(
      'hello-1 to hold the suggested policy',
      async () => (await authzIn(hello, 'hello'))?.rules?.[0]?.name === 'seen-callers',
    );
    for (let i = 0; i < 5; i++) {
      expect((await callHello(web)).status).toBe(200);
      expect((await callHello(client)).status).toBe(200);
    }
  });

  it('enforces a policy on real mTLS calls: the caller it names passes, another gets a JSON 403 naming caller, service and rule; audit mode denies nothing and counts what it would deny', async () => {
    const current = await api(cp, 'GET', '/v1/authz/hello');
    const enforce = await api(cp, 'PUT', '/v1/authz/hello', {
      policy: {
        rules: [
          { name: 'no-client', action: 'deny', from: ['client'] },
          { name: 'mesh', from: ['*'] },
        ],
      },
      resourceVersion: current.body.resourceVersion ?? '0',
    });
    expect(enforce.status, JSON.stringify(enforce.body)).toBe(200);
    await waitFor(
      'hello-1 to hold no-client',
      async () => (await authzIn(hello, 'hello'))?.rules?.[0]?.name === 'no-client',
    );
    expect((await callHello(web)).status).toBe(200);
    const denied = await callHello(client);
    expect(denied.status).toBe(403);
    expect(denied.json().error, denied.body).toMatchObject({
      code: 'MESHLET_AUTHZ_DENIED',
      caller: 'client',
      service: 'hello',
      rule: 'no-client',
    });

    const audit = await api(cp, 'PUT', '/v1/authz/hello', {
      policy: {
        mode: 'audit',
        rules: [
          { name: 'no-client', action: 'deny', from: ['client'] },
          { name: 'mesh', from: ['*'] },
        ],
      },
      resourceVersion: enforce.body.resourceVersion,
    });
    expect(audit.status).toBe(200);
    await waitFor('hello-1 to hold the audit policy', async () => (await authzIn(hello, 'hello'))?.mode === 'audit');
    for (let i = 0; i < 3; i++) expect((await callHello(client)).status).toBe(200);
    const metrics = (await httpRequest(hello.adminPort as number, '/metrics')).body;
    const audited = metrics.match(
      /meshlet_agent_authz_decisions_total\{caller="client",service="hello",decision="audited"\} (\d+)/,
    );
    expect(Number(audited?.[1])).toBeGreaterThanOrEqual(3);
  });
});
