import { describe, expect, it } from 'vitest';
import { AuthzStore } from '../authz/authz-store.js';
import { CallerLog } from '../authz/caller-log.js';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { useApiApps } from './test-support/api-app.js';
import { registerAuthzRoutes } from './authz-routes.js';

// The authz routes' validation and concurrency, in process; test/authz.test.ts
// drives them on a real control plane with its auth and its agents.

const apiApp = useApiApps();

function server() {
  const app = apiApp();
  let changes = 0;
  const authz = new AuthzStore(new MemoryStore(), {});
  registerAuthzRoutes(app, {
    authz,
    callersOf: (s) => new CallerLog(() => 0).callersOf(s),
    replicated: () => true,
    changed: () => changes++,
  });
  return { app, authz, changes: () => changes };
}

describe('/v1/authz', () => {
  it('PUT fills the defaults, GET shows it with its resourceVersion, DELETE removes it; each change schedules a table', async () => {
    const { app, changes } = server();
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/authz/orders',
      payload: { policy: { rules: [{ from: ['web'], methods: ['GET'] }] }, resourceVersion: '0' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({
      service: 'orders',
      source: 'api',
      resourceVersion: '1',
      policy: { mode: 'enforce', rules: [{ action: 'allow', from: ['web'], methods: ['GET'] }] },
    });
    expect((await app.inject({ url: '/v1/authz' })).json().items).toHaveLength(1);
    const stale = await app.inject({
      method: 'PUT',
      url: '/v1/authz/orders',
      payload: { policy: { rules: [{ from: ['web'] }] }, resourceVersion: '0' },
    });
    expect(stale.statusCode).toBe(409);
    expect((await app.inject({ method: 'DELETE', url: '/v1/authz/orders' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/authz/orders' })).json()).toMatchObject({ source: 'none', policy: null });
    expect((await app.inject({ method: 'DELETE', url: '/v1/authz/orders' })).statusCode).toBe(404);
    expect(changes()).toBe(2);
  });

  it.each([
    [{ rules: [{ from: ['Web'] }] }, 'policy.rules.0.from.0'],
    [{ rules: [{ methods: ['get'] }] }, 'policy.rules.0.methods.0'],
    [{ rules: [{ paths: ['api'] }] }, 'policy.rules.0.paths.0'],
    [{ mode: 'dry-run' }, 'policy.mode'],
    [{ rules: [{ form: ['web'] }] }, 'policy.rules.0.form'],
    // An empty policy would allow everyone here, and nothing in Istio: refused, naming the fix.
    [{}, 'policy.rules', /delete the policy to allow all; write a deny rule with no conditions to deny all/],
    [{ rules: [] }, 'policy.rules'],
    [{ rules: [{ from: ['web'] }, { from: ['spiffe://meshlet.local/ns/x/sa/web'] }] }, 'policy.rules.1.from.0'],
    [{ rules: [{ from: ['spiffe://meshlet.local/svc/unauthenticated'] }] }, 'policy.rules.0.from.0'],
    [{ rules: [{ paths: ['/api/', '/public/../admin'] }] }, 'policy.rules.0.paths.1', /write "\/admin"/],
    [{ rules: [{ paths: ['/%61dmin'] }] }, 'policy.rules.0.paths.0', /write "\/admin"/],
    [{ rules: [{ paths: ['/a%2fb'] }] }, 'policy.rules.0.paths.0'],
  ])('refuses %j with 400 naming %s, and writes nothing', async (policy, field, fix?: RegExp) => {
    const { app, authz, changes } = server();
    const r = await app.inject({ method: 'PUT', url: '/v1/authz/orders', payload: { policy } });
    expect(r.statusCode).toBe(400);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_API_INVALID' });
    const issues = r.json().error.issues as Array<{ path: string; fix: string }>;
    expect(issues.map((i) => i.path)).toContain(field);
    if (fix) expect(issues.find((i) => i.path === field)?.fix).toMatch(fix);
    expect(authz.configured()).toEqual([]);
    expect(changes()).toBe(0);
  });

  it('GET callers says whether other replicas may have seen other callers', async () => {
    const { app } = server();
    expect((await app.inject({ url: '/v1/authz/orders/callers' })).json()).toMatchObject({
      service: 'orders',
      replicated: true,
      callers: [],
    });
  });
});
