import { stripVTControlCharacters } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { meshctl, TOKEN, useCannedServer } from '../test-support/cli-harness.js';
import { INSTANCES, MESH_ANSWERS, SERVICES } from '../test-support/mesh-answers.js';

const { server, base, run } = useCannedServer(MESH_ANSWERS);

describe('meshctl get', () => {
  it('prints a table in a pipe: whole cells, no colours', async () => {
    const r = await run('get', 'services');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'NAME     HEALTHY/TOTAL   ACTIVE-TIER   VERSION',
        'hello    2/2             -             11',
        'orders   1/2             1             12',
        '',
      ].join('\n'),
    });
    expect(server.seen.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('prints the API answer as it is with -o json and -o yaml', async () => {
    expect(JSON.parse((await run('get', 'services', '-o', 'json')).stdout)).toEqual(SERVICES);
    expect(parseYaml((await run('get', 'svc', '-o', 'yaml')).stdout)).toEqual(SERVICES);
    expect(JSON.parse((await run('get', 'service', 'hello', '-o=json')).stdout)).toEqual(SERVICES.services[0]);
  });

  it('shows instances, agents, policies and events with their columns', async () => {
    expect((await run('get', 'instances', '--service', 'orders')).stdout).toBe(
      'ID         SERVICE   STATE      TIER   ZONE   REASON\norders-1   orders    draining   0      -      drained by an operator\n',
    );
    expect((await run('get', 'agents')).stdout).toBe(
      [
        'AGENT      CONNECTED   REPLICA   SERVICE   APPLIED   SENT   IN-SYNC   NACK',
        'client     yes         -         -         12        12     yes       -',
        'orders-1   no          cp-b      orders    9         10     no        v10 MESHLET_PROTOCOL_SCHEMA: bad ring',
        '',
      ].join('\n'),
    );
    expect((await run('get', 'policies')).stdout).toBe(
      'SERVICE   SOURCE   BALANCER        RESOURCE-VERSION\norders    api      least_request   21\n',
    );
    const ev = await run('get', 'events', '--service', 'orders', '--kind', 'drain', '--limit', '5');
    expect(server.seen.at(-1)?.url).toBe('/v1/events?service=orders&kind=drain&limit=5');
    expect(ev.stdout).toBe(
      'TIME                       KIND    SERVICE   INSTANCE   FROM→TO            REASON\n' +
        '2026-11-23T17:40:01.123Z   drain   orders    orders-1   healthy→draining   drained by an operator\n',
    );
  });

  it('fits a terminal and colours it', async () => {
    const r = await meshctl(['get', 'instances', ...base], { tty: { columns: 60 } });
    expect(r.stdout).toContain('\u001b[32mhealthy\u001b[39m');
    // The reason gives way; ids, states and zones stay whole.
    expect(stripVTControlCharacters(r.stdout)).toBe(
      [
        'ID         SERVICE   STATE      TIER   ZONE    REASON',
        'hello-1    hello     healthy    0      eu-1a   local health…',
        'orders-1   orders    draining   0      -       drained by a…',
        '',
      ].join('\n'),
    );
    const noColor = await meshctl(['get', 'instances', ...base], { tty: { columns: 60 }, env: { NO_COLOR: '1' } });
    expect(noColor.stdout).not.toContain('\u001b[');
  });

  it('says so on stderr when there is nothing to list', async () => {
    server.routes.set('GET /v1/instances', { body: { items: [] } });
    try {
      expect(await run('get', 'inst')).toEqual({ code: 0, stdout: '', stderr: 'no instances found\n' });
    } finally {
      server.routes.set('GET /v1/instances', { body: INSTANCES });
    }
  });

  it('refuses what it cannot do with exit status 2 and sends nothing', async () => {
    const before = server.seen.length;
    expect(await run('get', 'pods')).toMatchObject({
      code: 2,
      stderr:
        'meshctl: unknown resource "pods": use one of services, instances, agents, events, policies, authz, locks, elections, cluster (see meshctl get --help)\n',
    });
    expect(await run('get', 'agents', '--kind', 'health')).toMatchObject({
      code: 2,
      stderr: 'meshctl: --kind applies to get events only (see meshctl get --help)\n',
    });
    expect(await run('get', 'events', '--kind', 'oops')).toMatchObject({ code: 2 });
    expect(await run('get', 'events', '--limit', '0')).toMatchObject({ code: 2 });
    expect(await run('get', 'services', '-o', 'xml')).toMatchObject({
      code: 2,
      stderr: 'meshctl: -o xml: use one of table, json, yaml (see meshctl get --help)\n',
    });
    expect(server.seen.length).toBe(before);
  });

  it('prints the API error for an unknown name, with exit status 1', async () => {
    server.routes.set('GET /v1/agents/nope', {
      status: 404,
      body: { error: { code: 'MESHLET_NOT_FOUND', message: 'no agent "nope"; see GET /v1/agents' } },
    });
    expect(await run('get', 'agent', 'nope')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'meshctl: agents/nope: no agent "nope"; see meshctl get agents (404 MESHLET_NOT_FOUND)\n',
    });
  });
});

describe('meshctl get cluster', () => {
  const NOW = Date.parse('2026-12-04T14:00:00.000Z');
  const FOLLOWER = {
    replicaId: 'cp-2',
    role: 'follower',
    leader: { replicaId: 'cp-1', url: 'http://10.0.0.1:15010' },
    since: '2026-12-04T13:47:30.000Z',
    store: 'etcd',
  };
  const at = (...argv: string[]) => meshctl([...argv, ...base], { clock: () => NOW });

  it('prints one row: the replica, its role, the leader and its URL, the age of the role, the store', async () => {
    server.routes.set('GET /v1/cluster', { body: FOLLOWER });
    expect(await at('get', 'cluster')).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'REPLICA   ROLE       LEADER   LEADER-URL              SINCE   STORE',
        'cp-2      follower   cp-1     http://10.0.0.1:15010   12m     etcd',
        '',
      ].join('\n'),
    });
    expect(server.seen.at(-1)?.url).toBe('/v1/cluster');
    expect(server.seen.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('shows - for no leader (a standalone control plane, or no replica leads) and colours the leader on a terminal', async () => {
    server.routes.set('GET /v1/cluster', {
      body: {
        replicaId: 'standalone',
        role: 'standalone',
        leader: null,
        since: '2026-12-01T14:00:00.000Z',
        store: 'file',
      },
    });
    expect((await at('get', 'cluster')).stdout.split('\n')[1]).toBe(
      'standalone   standalone   -        -            3d      file',
    );
    server.routes.set('GET /v1/cluster', { body: { ...FOLLOWER, role: 'leader', replicaId: 'cp-1' } });
    expect((await meshctl(['get', 'cluster', ...base], { clock: () => NOW, tty: { columns: 100 } })).stdout).toContain(
      '\u001b[32mleader\u001b[39m',
    );
  });

  it('prints the API answer as it is with -o json and -o yaml', async () => {
    server.routes.set('GET /v1/cluster', { body: FOLLOWER });
    expect(JSON.parse((await at('get', 'cluster', '-o', 'json')).stdout)).toEqual(FOLLOWER);
    expect(parseYaml((await at('get', 'cluster', '-o', 'yaml')).stdout)).toEqual(FOLLOWER);
  });

  it('takes no NAME, and says what an older control plane without /v1/cluster lacks', async () => {
    const before = server.seen.length;
    expect(await at('get', 'cluster', 'cp-1')).toMatchObject({
      code: 2,
      stderr: 'meshctl: get cluster takes no NAME (see meshctl get --help)\n',
    });
    expect(server.seen.length).toBe(before);
    server.routes.set('GET /v1/cluster', {
      status: 404,
      body: { message: 'Route GET:/v1/cluster not found', error: 'Not Found', statusCode: 404 },
    });
    expect((await at('get', 'cluster')).stderr).toMatch(
      /has no GET \/v1\/cluster; is it a meshlet control plane as new as this meshctl\?\n$/,
    );
    server.routes.set('GET /v1/cluster', { body: ['not', 'an', 'object'] });
    expect((await at('get', 'cluster')).stderr).toBe('meshctl: GET /v1/cluster: the answer is not a JSON object\n');
  });
});
