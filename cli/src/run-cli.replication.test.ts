import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CannedServer, meshctl } from './test-support/cli-harness.js';

// meshctl among control-plane replicas: get cluster, and failover/failback
// sent to a follower, which names the leader.

const TOKEN = 'test-admin-token-0123456789';

const server = new CannedServer();
let base: string[];

beforeAll(async () => {
  await server.start();
  base = ['--server', server.url, '--token', TOKEN];
});
afterAll(async () => {
  await server.stop();
});

describe('meshctl get cluster', () => {
  const NOW = Date.parse('2026-12-04T14:00:00.000Z');
  const FOLLOWER = { replicaId: 'cp-2', role: 'follower', leader: { replicaId: 'cp-1', url: 'http://10.0.0.1:15010' }, since: '2026-12-04T13:47:30.000Z', store: 'etcd' };
  const at = (...argv: string[]) => meshctl([...argv, ...base], { clock: () => NOW });

  it('prints one row: the replica, its role, the leader and its URL, the age of the role, the store', async () => {
    server.routes.set('GET /v1/cluster', { body: FOLLOWER });
    expect(await at('get', 'cluster')).toEqual({
      code: 0,
      stderr: '',
      stdout: ['REPLICA   ROLE       LEADER   LEADER-URL              SINCE   STORE', 'cp-2      follower   cp-1     http://10.0.0.1:15010   12m     etcd', ''].join('\n'),
    });
    expect(server.seen.at(-1)?.url).toBe('/v1/cluster');
    expect(server.seen.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('shows - for no leader (a standalone control plane, or no replica leads) and colours the leader on a terminal', async () => {
    server.routes.set('GET /v1/cluster', { body: { replicaId: 'standalone', role: 'standalone', leader: null, since: '2026-12-01T14:00:00.000Z', store: 'file' } });
    expect((await at('get', 'cluster')).stdout.split('\n')[1]).toBe('standalone   standalone   -        -            3d      file');
    server.routes.set('GET /v1/cluster', { body: { ...FOLLOWER, role: 'leader', replicaId: 'cp-1' } });
    expect((await meshctl(['get', 'cluster', ...base], { clock: () => NOW, tty: { columns: 100 } })).stdout).toContain('\u001b[32mleader\u001b[39m');
  });

  it('prints the API answer as it is with -o json and -o yaml', async () => {
    server.routes.set('GET /v1/cluster', { body: FOLLOWER });
    expect(JSON.parse((await at('get', 'cluster', '-o', 'json')).stdout)).toEqual(FOLLOWER);
    expect(parseYaml((await at('get', 'cluster', '-o', 'yaml')).stdout)).toEqual(FOLLOWER);
  });

  it('takes no NAME, and says what an older control plane without /v1/cluster lacks', async () => {
    const before = server.seen.length;
    expect(await at('get', 'cluster', 'cp-1')).toMatchObject({ code: 2, stderr: 'meshctl: get cluster takes no NAME (see meshctl get --help)\n' });
    expect(server.seen.length).toBe(before);
    server.routes.set('GET /v1/cluster', { status: 404, body: { message: 'Route GET:/v1/cluster not found', error: 'Not Found', statusCode: 404 } });
    expect((await at('get', 'cluster')).stderr).toMatch(/has no GET \/v1\/cluster; is it a meshlet control plane as new as this meshctl\?\n$/);
    server.routes.set('GET /v1/cluster', { body: ['not', 'an', 'object'] });
    expect((await at('get', 'cluster')).stderr).toBe('meshctl: GET /v1/cluster: the answer is not a JSON object\n');
  });
});

describe('meshctl failover and failback on a follower replica', () => {
  // Two loopback servers: a follower that refuses decisions, naming the leader, and the leader.
  const leader = new CannedServer();
  const follower = new CannedServer();
  const notLeader = (url: unknown) => ({
    status: 503,
    body: { error: { code: 'MESHLET_NOT_LEADER', message: `this control-plane replica follows; manual failover is a decision of the leader, replica cp-1: send the request to ${String(url)} (see GET /v1/cluster)`, leader: url } },
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
    expect(posts(leader).map((r) => [r.url, r.headers.authorization])).toEqual([['/v1/services/orders/failover', `Bearer ${TOKEN}`]]);

    follower.routes.set('POST /v1/services/orders/failback', notLeader(`${leader.url}/`));
    leader.routes.set('POST /v1/services/orders/failback', { body: { service: 'orders', activeTier: 0 } });
    const json = await viaFollower('failback', 'orders', '-o', 'json');
    expect(JSON.parse(json.stdout)).toEqual({ service: 'orders', activeTier: 0 });
    expect(json.stderr).toBe(`note: ${follower.url} follows; sent to the leader at ${leader.url}\n`);
  });

  it("reports the leader's own refusal as usual", async () => {
    follower.routes.set('POST /v1/services/hello/failover', notLeader(leader.url));
    leader.routes.set('POST /v1/services/hello/failover', { status: 409, body: { error: { code: 'MESHLET_CONFLICT', message: 'service "hello" has no backup tier' } } });
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
        `meshctl: failover orders: this control-plane replica follows; manual failover is a decision of the leader, replica cp-1: send the request to ${follower.url} (see GET /v1/cluster) (503 MESHLET_NOT_LEADER)\n`,
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
    expect((await viaFollower('failover', 'orders')).stderr).toMatch(/^meshctl: failover orders: this control-plane replica follows; .* \(503 MESHLET_NOT_LEADER\)\n$/);
    expect(posts(follower).length).toBe(1);
    follower.routes.set('POST /v1/instances/orders-1/drain', notLeader(leader.url));
    expect((await viaFollower('drain', 'orders-1')).stderr).toMatch(/^meshctl: drain orders-1: .* \(503 MESHLET_NOT_LEADER\)\n$/);
    expect(leader.seen).toEqual([]);
  });
});
