import { describe, expect, it } from 'vitest';
import { CannedServer, meshctl, TOKEN, useCannedServer } from '../test-support/cli-harness.js';

const instances = [
  { id: 'pg-1', routable: true, priority: 1, role: 'replica', checkHealthy: true, replicationOffset: 900, lagBytes: 0 },
  { id: 'pg-2', routable: true, priority: 1, role: 'primary', checkHealthy: true, replicationOffset: 900, lagBytes: 0 },
];
const DONE = {
  service: 'pg',
  policy: { switchoverTimeoutMs: 30000 },
  state: { term: 9, holder: 'pg-2', primary: 'pg-2', candidates: ['pg-1'] },
  instances,
  events: [
    {
      from: 'pg-1',
      to: 'pg-2',
      reason: 'switchover to pg-2 completed in term 9',
      evidence: { step: 'switchover-completed' },
    },
  ],
};

const { server, run } = useCannedServer({
  'POST /v1/services/pg/switchover': {
    status: 202,
    body: { service: 'pg', state: { term: 7, primary: 'pg-1', candidates: ['pg-2'], switchoverTo: 'pg-2' } },
  },
  'GET /v1/services/pg/failover': { body: DONE },
  'POST /v1/services/orders/switchover': {
    status: 404,
    body: { error: { code: 'MESHLET_NOT_FOUND', message: 'service pg has no instance "orders-1"', field: 'to' } },
  },
});

describe('meshctl switchover, get failover', () => {
  it('asks for the switchover, follows it, and ends with the instances once the target is the primary', async () => {
    const r = await run('switchover', 'pg', '--to', 'pg-2');
    expect(r.code).toBe(0);
    expect(server.seen.find((s) => s.method === 'POST')).toMatchObject({ body: '{"to":"pg-2"}' });
    expect(r.stderr).toMatch(/term 9 primary pg-2/);
    expect(r.stderr).toMatch(/pg-2 is the primary of term 9/);
    expect(r.stdout).toMatch(/INSTANCE\s+ROLE\s+CHECK/);
    expect(r.stdout).toMatch(/pg-2\s+primary\s+healthy\s+yes\s+900\s+0\s+1\s+primary/);
  });

  it('a refusal is an error with the control plane message; --to is required', async () => {
    const r = await run('switchover', 'orders', '--to', 'orders-1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no instance "orders-1"/);
    expect((await run('switchover', 'pg')).code).toBe(2);
  });

  it('get failover SERVICE shows the state line and the instances', async () => {
    const r = await run('get', 'failover', 'pg');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^service\/pg term 9 primary pg-2 \(holder pg-2\) candidates pg-1/);
    expect(r.stdout).toMatch(/switchover-completed/);
    expect((await run('get', 'failover')).code).toBe(2);
  });

  it('pointed at a follower: the switchover goes to the leader it names, and meshctl follows it there (the follower shows none)', async () => {
    const follower = await new CannedServer().start();
    const leader = await new CannedServer().start();
    try {
      follower.routes.set('POST /v1/services/pg/switchover', {
        status: 503,
        body: { error: { code: 'MESHLET_NOT_LEADER', message: 'this replica follows', leader: leader.url } },
      });
      // A follower decides no switchover: it shows the primary without one.
      follower.routes.set('GET /v1/services/pg/failover', {
        body: { ...DONE, state: { term: 7, holder: 'pg-1', primary: 'pg-1', candidates: ['pg-2'] }, events: [] },
      });
      leader.routes.set('POST /v1/services/pg/switchover', {
        status: 202,
        body: { service: 'pg', state: { term: 7, primary: 'pg-1', candidates: ['pg-2'], switchoverTo: 'pg-2' } },
      });
      leader.routes.set('GET /v1/services/pg/failover', { body: DONE });
      const r = await meshctl(['switchover', 'pg', '--to', 'pg-2', '--server', follower.url, '--token', TOKEN]);
      expect(r.stderr).toMatch(/pg-2 is the primary of term 9/);
      expect(r.code).toBe(0);
      expect(leader.seen.filter((x) => x.method === 'GET').length).toBeGreaterThan(0);
    } finally {
      await Promise.all([follower.stop(), leader.stop()]);
    }
  });
});
