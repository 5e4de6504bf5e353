import type { CoordState } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { type CoordinationRouteDeps, registerCoordinationRoutes } from './coordination-routes.js';
import { useApiApps } from './test-support/api-app.js';

const makeApp = useApiApps();

const HELD: CoordState = {
  kind: 'lock',
  service: 'orders',
  name: 'nightly',
  holder: { agentId: 'a1', instanceId: 'i1' },
  token: 42,
  revision: 42,
};

function setup(following?: CoordinationRouteDeps['following']) {
  const releases: unknown[] = [];
  const app = makeApp();
  registerCoordinationRoutes(app, {
    coordinator: {
      list: () => [HELD],
      release: async (...args) => {
        releases.push(args);
        return HELD;
      },
    },
    ...(following ? { following } : {}),
  });
  return { app, releases };
}

describe('coordination routes', () => {
  it('attack: a forced release on a follower replica is refused with 503 MESHLET_NOT_LEADER naming the leader (no event in its own log)', async () => {
    const { app, releases } = setup(() => ({ leader: { replicaId: 'cp-1', url: 'https://cp-1:15010' } }));
    const r = await app.inject({ method: 'DELETE', url: '/v1/locks/orders/nightly' });
    expect(r.statusCode).toBe(503);
    expect(r.json().error).toMatchObject({ code: 'MESHLET_NOT_LEADER', leader: 'https://cp-1:15010' });
    expect(r.json().error.message).toContain('replica cp-1');
    expect(releases).toEqual([]);
    const none = setup(() => ({ leader: undefined }));
    const r2 = await none.app.inject({ method: 'DELETE', url: '/v1/elections/orders/nightly' });
    expect(r2.statusCode).toBe(503);
    expect(r2.json().error.message).toContain('no replica leads');
  });

  it('the deciding replica forces the release', async () => {
    const { app, releases } = setup(() => undefined);
    const r = await app.inject({ method: 'DELETE', url: '/v1/locks/orders/nightly' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ released: true, lock: { token: 42 } });
    expect(releases).toHaveLength(1);
  });
});
