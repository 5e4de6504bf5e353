import { describe, expect, it } from 'vitest';
import { type FailoverRouteDeps, registerFailoverRoutes } from './failover-routes.js';
import { useApiApps } from './test-support/api-app.js';

const makeApp = useApiApps();

const STATE = { term: 7, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-2'] };

function setup(following?: FailoverRouteDeps['following']) {
  const asked: unknown[] = [];
  const app = makeApp();
  registerFailoverRoutes(app, {
    managed: {
      describe: () => undefined,
      requestSwitchover: (service, to, by) => {
        asked.push([service, to, by]);
        return to === 'pg-9'
          ? { ok: false, status: 409, field: 'to', message: 'pg-9 is 5000000 bytes behind the primary' }
          : { ok: true, state: { ...STATE, switchoverTo: to } };
      },
    },
    events: { list: () => [] },
    knownService: (s) => s === 'pg',
    ...(following ? { following } : {}),
  });
  return { app, asked };
}

describe('failover routes', () => {
  it('a switchover on a follower replica is refused with 503 MESHLET_NOT_LEADER naming the leader; nothing is asked', async () => {
    const { app, asked } = setup(() => ({ leader: { replicaId: 'cp-1', url: 'https://cp-1:15010' } }));
    const r = await app.inject({ method: 'POST', url: '/v1/services/pg/switchover', payload: { to: 'pg-2' } });
    expect(r.statusCode).toBe(503);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_NOT_LEADER', leader: 'https://cp-1:15010' });
    expect(asked).toEqual([]);
  });

  it('202 with the state on the leader; 409 with the field and the fix; 404 for an unknown service; 400 for a bad body', async () => {
    const { app, asked } = setup();
    const ok = await app.inject({ method: 'POST', url: '/v1/services/pg/switchover', payload: { to: 'pg-2' } });
    expect(ok.statusCode).toBe(202);
    expect(ok.json()).toMatchObject({ service: 'pg', state: { switchoverTo: 'pg-2' }, by: 'anonymous' });
    const far = await app.inject({ method: 'POST', url: '/v1/services/pg/switchover', payload: { to: 'pg-9' } });
    expect(far.statusCode).toBe(409);
    expect(far.json().error).toMatchObject({ code: 'MESHLET_CONFLICT', field: 'to' });
    const unknown = await app.inject({ method: 'POST', url: '/v1/services/mysql/switchover', payload: { to: 'x' } });
    expect(unknown.statusCode).toBe(404);
    const bad = await app.inject({ method: 'POST', url: '/v1/services/pg/switchover', payload: { target: 'pg-2' } });
    expect(bad.statusCode).toBe(400);
    expect(asked).toEqual([
      ['pg', 'pg-2', 'anonymous'],
      ['pg', 'pg-9', 'anonymous'],
    ]);
    const notManaged = await app.inject({ method: 'GET', url: '/v1/services/pg/failover' });
    expect(notManaged.statusCode).toBe(400);
    expect(notManaged.json().error.message).toMatch(/policy.failover.mode/);
  });
});
