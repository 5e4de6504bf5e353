import { describe, expect, it } from 'vitest';
import { useCannedServer } from '../test-support/cli-harness.js';

const LOCK = {
  kind: 'lock',
  service: 'orders',
  name: 'nightly',
  holder: { agentId: 'orders-1-agent', instanceId: 'orders-1', label: 'host-a' },
  token: 42,
  ttlMs: 15000,
  releaseOnUnhealthy: true,
  revision: 42,
};
const ELECTION = { ...LOCK, kind: 'election', name: 'leader', token: 7, ttlMs: 3000, revision: 7 };

const { server, run } = useCannedServer({
  'GET /v1/locks': { body: { locks: [LOCK, { ...LOCK, service: 'billing', name: 'payout', holder: undefined }] } },
  'GET /v1/elections': { body: { elections: [ELECTION] } },
  'DELETE /v1/locks/orders/nightly': { body: { released: true, lock: LOCK, by: 'ops' } },
  'DELETE /v1/elections/orders/gone': {
    status: 404,
    body: {
      error: {
        code: 'MESHLET_NOT_FOUND',
        message: 'election "gone" of service orders is not held; see GET /v1/elections',
      },
    },
  },
});

describe('meshctl get locks, get elections, release', () => {
  it('lists locks and elections: SERVICE NAME HOLDER TOKEN/TERM TTL, --service filtering', async () => {
    expect((await run('get', 'locks', '--service', 'orders')).stdout).toBe(
      [
        'SERVICE   NAME      HOLDER                             TOKEN   TTL',
        'orders    nightly   orders-1-agent/orders-1 (host-a)   42      15s',
        '',
      ].join('\n'),
    );
    expect((await run('get', 'elections')).stdout).toBe(
      [
        'SERVICE   NAME     HOLDER                             TERM   TTL',
        'orders    leader   orders-1-agent/orders-1 (host-a)   7      3s',
        '',
      ].join('\n'),
    );
  });

  it('forces a release with DELETE and says who held it', async () => {
    const r = await run('release', 'lock', 'orders/nightly');
    expect(server.seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/v1/locks/orders/nightly' });
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: 'lock/orders/nightly released (was held by orders-1-agent/orders-1, token 42)\n',
    });
  });

  it('a free election is an error pointing at meshctl get elections; a bad target is a usage error', async () => {
    const gone = await run('release', 'election', 'orders/gone');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/meshctl get elections/);
    const bad = await run('release', 'lock', 'nightly');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/SERVICE\/NAME/);
    expect((await run('release', 'mutex', 'a/b')).code).toBe(2);
  });
});
