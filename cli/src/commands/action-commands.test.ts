import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CannedServer, meshctl, TOKEN, useCannedServer } from '../test-support/cli-harness.js';

// drain, undrain, failover and failback; among control-plane replicas,
// failover and failback sent to a follower, which names the leader.

const { server, run } = useCannedServer();

describe('meshctl drain, undrain, failover, failback', () => {
  it('POSTs and prints the new state', async () => {
    server.routes.set('POST /v1/instances/orders-1/drain', {
      body: { id: 'orders-1', service: 'orders', state: 'draining' },
    });
    server.routes.set('POST /v1/instances/orders-1/undrain', {
      body: { id: 'orders-1', service: 'orders', state: 'healthy' },
    });
    server.routes.set('POST /v1/services/orders/failover', { body: { service: 'orders', activeTier: 1 } });
    expect((await run('drain', 'orders-1', '--reason', 'kernel upgrade')).stdout).toBe(
      'instance/orders-1 (orders) draining\n',
    );
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ reason: 'kernel upgrade' });
    expect((await run('undrain', 'orders-1')).stdout).toBe('instance/orders-1 (orders) healthy\n');
    expect((await run('failover', 'orders')).stdout).toBe('service/orders failed over: active tier 1\n');
    expect(JSON.parse((await run('failover', 'orders', '-o', 'json')).stdout)).toEqual({
      service: 'orders',
      activeTier: 1,
    });
  });

  it('prints why a failover is impossible', async () => {
    server.routes.set('POST /v1/services/hello/failback', {
      status: 409,
      body: { error: { code: 'MESHLET_CONFLICT', message: 'hello has one tier only' } },
    });
    expect(await run('failback', 'hello')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'meshctl: failback hello: hello has one tier only (409 MESHLET_CONFLICT)\n',
    });
  });
});

describe('meshctl failover and failback on a follower replica', () => {
  // Two loopback servers: a follower that refuses decisions, naming the leader, and the leader.
  const leader = new CannedServer();
  const follower = new CannedServer();
  const notLeader = (url: unknown) => ({
    status: 503,
    body: {
      error: {
        code: 'MESHLET_NOT_LEADER',
        message: `this control-plane replica follows; manual failover is a decision of the leader, replica cp-1: send the request to ${String(url)} (see GET /v1/cluster)`,
        leader: url,
      },
    },
  });
  const viaFollower = (...argv: string[]) => meshctl([...argv, '--server', follower.url, '--token', TOKEN]);
  const posts = (s: CannedServer) => s.seen.filter((r) => r.method === 'POST');

  beforeAll(async () => {
    await Promise.all([leader.start(), follower.start()]);
  });
  afterAll(async () => {
    await Promise.all([leader.stop(), follower.stop()]);
  });
  beforeEach(() => {
    leader.seen.length = 0;
    follower.seen.length = 0;
    leader.routes.clear();
    follower.routes.clear();
  });

  it('resends the request once to the leader the follower names, with the same token, and says so on stderr', async () => {
    follower.routes.set('POST /v1/services/orders/failover', notLeader(leader.url));
    leader.routes.set('POST /v1/services/orders/failover', { body: { service: 'orders', activeTier: 1 } });
    expect(await viaFollower('failover', 'orders')).toEqual({
      code: 0,
      stdout: 'service/orders failed over: active tier 1\n',
      stderr: `note: ${follower.url} follows; sent to the leader at ${leader.url}\n`,
    });
    expect(posts(follower).map((r) => r.url)).toEqual(['/v1/services/orders/failover']);
    expect(posts(leader).map((r) => [r.url, r.headers.authorization])).toEqual([
      ['/v1/services/orders/failover', `Bearer ${TOKEN}`],
    ]);

    follower.routes.set('POST /v1/services/orders/failback', notLeader(`${leader.url}/`));
    leader.routes.set('POST /v1/services/orders/failback', { body: { service: 'orders', activeTier: 0 } });
    const json = await viaFollower('failback', 'orders', '-o', 'json');
    expect(JSON.parse(json.stdout)).toEqual({ service: 'orders', activeTier: 0 });
    expect(json.stderr).toBe(`note: ${follower.url} follows; sent to the leader at ${leader.url}\n`);
  });

  it("reports the leader's own refusal as usual", async () => {
    follower.routes.set('POST /v1/services/hello/failover', notLeader(leader.url));
    leader.routes.set('POST /v1/services/hello/failover', {
      status: 409,
      body: { error: { code: 'MESHLET_CONFLICT', message: 'service "hello" has no backup tier' } },
    });
    expect(await viaFollower('failover', 'hello')).toEqual({
      code: 1,
      stdout: '',
      stderr: `note: ${follower.url} follows; sent to the leader at ${leader.url}\nmeshctl: failover hello: service "hello" has no backup tier (409 MESHLET_CONFLICT)\n`,
    });
  });

  it('never follows twice: a leader that follows in turn (leadership moved) is the answer', async () => {
    follower.routes.set('POST /v1/services/orders/failover', notLeader(leader.url));
    // It names the first one back: following it would loop.
    leader.routes.set('POST /v1/services/orders/failover', notLeader(follower.url));
    const r = await viaFollower('failover', 'orders');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `note: ${follower.url} follows; sent to the leader at ${leader.url}\n` +
        `meshctl: failover orders: this control-plane replica follows; manual failover is a decision of the leader, replica cp-1: send the request to ${follower.url} (see meshctl get cluster) (503 MESHLET_NOT_LEADER)\n`,
    );
    expect([posts(follower).length, posts(leader).length]).toEqual([1, 1]);
  });

  it('names the leader when it cannot be reached', async () => {
    const gone = await new CannedServer().start();
    const url = gone.url;
    await gone.stop();
    follower.routes.set('POST /v1/services/orders/failback', notLeader(url));
    const r = await viaFollower('failback', 'orders');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `note: ${follower.url} follows; sent to the leader at ${url}\n` +
        `meshctl: cannot reach the control plane at ${url}: connection refused; is it running there? Point meshctl at it with --server URL, MESHCTL_SERVER or server: in /nonexistent-home/.config/meshctl/config.yaml (now from the leader named by ${follower.url})\n`,
    );
  });

  it('says that no replica leads when the refusal names no leader, and sends nothing more', async () => {
    for (const none of [undefined, null, '']) {
      follower.routes.set('POST /v1/services/orders/failover', notLeader(none));
      expect(await viaFollower('failover', 'orders')).toEqual({
        code: 1,
        stdout: '',
        stderr: `meshctl: failover orders: the control plane at ${follower.url} follows and no replica leads right now (etcd quorum lost?); try again shortly, and see meshctl get cluster (503 MESHLET_NOT_LEADER)\n`,
      });
    }
    expect(posts(follower).length).toBe(3);
    expect(leader.seen).toEqual([]);
  });

  it('does not follow for a server that names itself, nor for drain and undrain', async () => {
    follower.routes.set('POST /v1/services/orders/failover', notLeader(follower.url));
    expect((await viaFollower('failover', 'orders')).stderr).toMatch(
      /^meshctl: failover orders: this control-plane replica follows; .* \(503 MESHLET_NOT_LEADER\)\n$/,
    );
    expect(posts(follower).length).toBe(1);
    follower.routes.set('POST /v1/instances/orders-1/drain', notLeader(leader.url));
    expect((await viaFollower('drain', 'orders-1')).stderr).toMatch(
      /^meshctl: drain orders-1: .* \(503 MESHLET_NOT_LEADER\)\n$/,
    );
    expect(leader.seen).toEqual([]);
  });
});
