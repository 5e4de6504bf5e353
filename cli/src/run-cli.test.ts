import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CannedServer, meshctl } from './test-support/cli-harness.js';

const TOKEN = 'test-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'meshctl-run-'));

const SERVICES = {
  tableVersion: 12,
  services: [
    { name: 'hello', healthy: 2, total: 2, version: 11, activeTier: null, failbackAt: null, instances: [] },
    { name: 'orders', healthy: 1, total: 2, version: 12, activeTier: 1, failbackAt: null, instances: [] },
  ],
};
const INSTANCES = {
  items: [
    { id: 'hello-1', service: 'hello', state: 'healthy', tier: 0, zone: 'eu-1a', reason: 'local health check passing' },
    { id: 'orders-1', service: 'orders', state: 'draining', tier: 0, zone: null, reason: 'drained by an operator' },
  ],
};
const AGENTS = {
  tableVersion: 12,
  agents: [
    { agentId: 'client', connected: true, replica: null, instance: null, appliedVersion: 12, sentVersion: 12, inSync: true, nack: null },
    {
      agentId: 'orders-1',
      connected: false,
      replica: 'cp-b',
      instance: { service: 'orders' },
      appliedVersion: 9,
      sentVersion: 10,
      inSync: false,
      nack: { version: 10, code: 'MESHLET_PROTOCOL_SCHEMA', error: 'bad ring', at: 'x' },
    },
  ],
};
const EVENTS = {
  events: [{ seq: 4, time: '2026-11-23T17:40:01.123Z', kind: 'drain', service: 'orders', instance: 'orders-1', from: 'healthy', to: 'draining', reason: 'drained by an operator' }],
};
const POLICIES = { items: [{ service: 'orders', source: 'api', resourceVersion: '21', policy: { balancer: { kind: 'least_request' } } }] };

const server = new CannedServer({
  'GET /v1/services': { body: SERVICES },
  'GET /v1/services/hello': { body: SERVICES.services[0] },
  'GET /v1/instances': { body: INSTANCES },
  'GET /v1/agents': { body: AGENTS },
  'GET /v1/events': { body: EVENTS },
  'GET /v1/policies': { body: POLICIES },
});
let base: string[];
const run = (...argv: string[]) => meshctl([...argv, ...base]);

beforeAll(async () => {
  await server.start();
  base = ['--server', server.url, '--token', TOKEN];
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('meshctl get', () => {
  it('prints a table in a pipe: whole cells, no colours', async () => {
    const r = await run('get', 'services');
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: ['NAME     HEALTHY/TOTAL   ACTIVE-TIER   VERSION', 'hello    2/2             -             11', 'orders   1/2             1             12', ''].join('\n'),
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
    expect((await run('get', 'policies')).stdout).toBe('SERVICE   SOURCE   BALANCER        RESOURCE-VERSION\norders    api      least_request   21\n');
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
      ['ID         SERVICE   STATE      TIER   ZONE    REASON', 'hello-1    hello     healthy    0      eu-1a   local health…', 'orders-1   orders    draining   0      -       drained by a…', ''].join('\n'),
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
    expect(await run('get', 'pods')).toMatchObject({ code: 2, stderr: 'meshctl: unknown resource "pods": use one of services, instances, agents, events, policies, cluster (see meshctl get --help)\n' });
    expect(await run('get', 'agents', '--kind', 'health')).toMatchObject({ code: 2, stderr: 'meshctl: --kind applies to get events only (see meshctl get --help)\n' });
    expect(await run('get', 'events', '--kind', 'oops')).toMatchObject({ code: 2 });
    expect(await run('get', 'events', '--limit', '0')).toMatchObject({ code: 2 });
    expect(await run('get', 'services', '-o', 'xml')).toMatchObject({ code: 2, stderr: 'meshctl: -o xml: use one of table, json, yaml (see meshctl get --help)\n' });
    expect(server.seen.length).toBe(before);
  });

  it('prints the API error for an unknown name, with exit status 1', async () => {
    server.routes.set('GET /v1/agents/nope', { status: 404, body: { error: { code: 'MESHLET_NOT_FOUND', message: 'no agent "nope"; see GET /v1/agents' } } });
    expect(await run('get', 'agent', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'meshctl: agents/nope: no agent "nope"; see GET /v1/agents (404 MESHLET_NOT_FOUND)\n' });
  });
});

describe('meshctl apply and delete', () => {
  it('PUTs each document of a file or stdin, and prints its resourceVersion', async () => {
    let rv = 30;
    server.routes.set('PUT /v1/policies/a', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ service: 'a', source: 'api', resourceVersion: String(++rv), policy: JSON.parse(req.body).policy }));
    });
    server.routes.set('PUT /v1/policies/b', { body: { service: 'b', source: 'api', resourceVersion: '40', policy: {} } });
    const r = await meshctl(['apply', '-f', '-', ...base], {
      stdin: 'kind: Policy\nservice: a\npolicy:\n  retries: { maxRetries: 3 }\n---\nkind: Policy\nservice: b\npolicy: {}\nresourceVersion: 39\n',
    });
    expect(r).toEqual({ code: 0, stderr: '', stdout: 'policy/a configured (resourceVersion 31)\npolicy/b configured (resourceVersion 40)\n' });
    const puts = server.seen.filter((s) => s.method === 'PUT').slice(-2);
    expect(puts.map((p) => [p.url, JSON.parse(p.body)])).toEqual([
      ['/v1/policies/a', { policy: { retries: { maxRetries: 3 } } }],
      ['/v1/policies/b', { policy: {}, resourceVersion: '39' }],
    ]);
    expect(puts[0]?.headers['content-type']).toBe('application/json');
  });

  it('reports a stale resourceVersion with the API message and exit status 1, and applies the rest', async () => {
    server.routes.set('PUT /v1/policies/stale', {
      status: 409,
      body: { error: { code: 'MESHLET_CONFLICT', message: 'resourceVersion 3 is stale: the policy of "stale" is at 21; get it again and reapply your change', field: 'resourceVersion' } },
    });
    const file = join(dir, 'two.yaml');
    writeFileSync(file, 'kind: Policy\nservice: stale\npolicy: {}\nresourceVersion: "3"\n---\nkind: Policy\nservice: b\npolicy: {}\n');
    const r = await run('apply', '-f', file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('policy/b configured (resourceVersion 40)\n');
    expect(r.stderr).toBe(
      `meshctl: policy/stale (${file}:1): resourceVersion 3 is stale: the policy of "stale" is at 21; get it again and reapply your change (409 MESHLET_CONFLICT)\n`,
    );
  });

  it('checks every file before sending anything, naming the bad one', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'kind: Policy\nservice: a\npolicy: {}\n');
    const before = server.seen.length;
    expect(await run('apply', '-f', good, '-f', join(dir, 'missing.yaml'))).toMatchObject({ code: 2, stderr: `meshctl: cannot read ${join(dir, 'missing.yaml')}: no such file\n` });
    expect(await run('apply', '-f', good, '-f', good)).toMatchObject({ code: 2, stderr: `meshctl: ${good}:1: service a is already configured at ${good}:1; keep one document per service\n` });
    expect(server.seen.length).toBe(before);
  });

  it('deletes a policy, with the resourceVersion in the query', async () => {
    server.routes.set('DELETE /v1/policies/orders', { body: { service: 'orders', deleted: true } });
    expect(await run('delete', 'policy', 'orders', '--resource-version', '21')).toEqual({ code: 0, stdout: 'policy/orders deleted\n', stderr: '' });
    expect(server.seen.at(-1)?.url).toBe('/v1/policies/orders?resourceVersion=21');
    expect(await run('delete', 'service', 'orders')).toMatchObject({ code: 2 });
  });
});

describe('meshctl drain, undrain, failover, failback', () => {
  it('POSTs and prints the new state', async () => {
    server.routes.set('POST /v1/instances/orders-1/drain', { body: { id: 'orders-1', service: 'orders', state: 'draining' } });
    server.routes.set('POST /v1/instances/orders-1/undrain', { body: { id: 'orders-1', service: 'orders', state: 'healthy' } });
    server.routes.set('POST /v1/services/orders/failover', { body: { service: 'orders', activeTier: 1 } });
    expect((await run('drain', 'orders-1', '--reason', 'kernel upgrade')).stdout).toBe('instance/orders-1 (orders) draining\n');
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ reason: 'kernel upgrade' });
    expect((await run('undrain', 'orders-1')).stdout).toBe('instance/orders-1 (orders) healthy\n');
    expect((await run('failover', 'orders')).stdout).toBe('service/orders failed over: active tier 1\n');
    expect(JSON.parse((await run('failover', 'orders', '-o', 'json')).stdout)).toEqual({ service: 'orders', activeTier: 1 });
  });

  it('prints why a failover is impossible', async () => {
    server.routes.set('POST /v1/services/hello/failback', { status: 409, body: { error: { code: 'MESHLET_CONFLICT', message: 'hello has one tier only' } } });
    expect(await run('failback', 'hello')).toEqual({ code: 1, stdout: '', stderr: 'meshctl: failback hello: hello has one tier only (409 MESHLET_CONFLICT)\n' });
  });
});

describe('meshctl backup and restore', () => {
  const full = { format: 'meshlet-snapshot/v1', kind: 'full', clusterId: 'c1', since: 0, revision: 57, createdAt: 'x', entries: [{ key: 'a' }, { key: 'b' }], checksum: 'sha256:0' };
  const inc = { ...full, kind: 'incremental', since: 57, revision: 60, entries: [{ key: 'a' }] };

  it('writes a full backup to a file readable by its owner only, and says what it holds', async () => {
    server.routes.set('GET /v1/snapshots/full', { body: full });
    const file = join(dir, 'full.json');
    const r = await run('backup', '-f', file);
    expect(r).toEqual({ code: 0, stdout: '', stderr: `full backup at revision 57: 2 keys -> ${file}\n` });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(full);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes an incremental backup to stdout', async () => {
    server.routes.set('GET /v1/snapshots/incremental', { body: inc });
    const r = await run('backup', '--since', '57');
    expect(server.seen.at(-1)?.url).toBe('/v1/snapshots/incremental?since=57');
    expect(JSON.parse(r.stdout)).toEqual(inc);
    expect(r.stderr).toBe('incremental backup since 57..60: 1 keys -> stdout\n');
  });

  it('restores files in order, and names the file the control plane refuses', async () => {
    const f1 = join(dir, 'r-full.json');
    const f2 = join(dir, 'r-inc.json');
    writeFileSync(f1, JSON.stringify(full));
    writeFileSync(f2, JSON.stringify(inc));
    server.routes.set('POST /v1/snapshots/restore', { body: { restored: { keys: 2, revision: 61 } } });
    expect(await run('restore', '-f', f1, '-f', f2)).toEqual({ code: 0, stderr: '', stdout: 'restored 2 keys at revision 61 from 2 files\n' });
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ snapshots: [full, inc] });
    server.routes.set('POST /v1/snapshots/restore', {
      status: 400,
      body: { error: { code: 'MESHLET_API_INVALID', message: 'snapshot 2 of 2: since 50 is not the revision of snapshot 1 of 2 (57)', field: 'since' } },
    });
    expect((await run('restore', '-f', f1, '-f', f2)).stderr).toBe(
      `meshctl: restore: snapshot 2 of 2 (${f2}): since 50 is not the revision of snapshot 1 of 2 (${f1}) (57) (400 MESHLET_API_INVALID)\n`,
    );
  });

  it('refuses a file that is not a snapshot before sending anything', async () => {
    const bad = join(dir, 'policy.json');
    writeFileSync(bad, '{"kind":"Policy"}');
    expect(await run('restore', '-f', bad)).toMatchObject({ code: 2, stderr: `meshctl: ${bad} is not a meshlet snapshot (no format field, expected "meshlet-snapshot/v1"); pass a file written by meshctl backup\n` });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"format": "meshlet-snapshot/v1",');
    expect((await run('restore', '-f', broken)).stderr).toMatch(new RegExp(`^meshctl: ${broken}:1:34: not valid JSON: \\w`));
  });
});

describe('meshctl events --follow', () => {
  it('prints the listed events, then streamed ones, and reconnects after a lost stream resuming after the last seq', async () => {
    const streams: string[] = [];
    server.routes.set('GET /v1/events/stream', (req, res) => {
      streams.push(`${req.url} last-event-id=${String(req.headers['last-event-id'])}`);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      const seq = streams.length === 1 ? 5 : 6;
      res.write(': connected\n\n');
      // The first stream also repeats seq 4 (already listed): it must not print twice.
      if (seq === 5) res.write(`id: 4\nevent: mesh-event\ndata: ${JSON.stringify(EVENTS.events[0])}\n\n`);
      res.write(`id: ${seq}\nevent: mesh-event\ndata: ${JSON.stringify({ ...EVENTS.events[0], seq, to: seq === 5 ? 'healthy' : 'unhealthy' })}\n\n`);
      if (seq === 5) res.end();
    });
    const ctrlC = new AbortController();
    let lines = 0;
    const r = await meshctl(['events', '--follow', '--service', 'orders', ...base], {
      interrupt: ctrlC.signal,
      onStdout: (t) => {
        lines += t.split('\n').length - 1;
        if (lines === 3) ctrlC.abort();
      },
    });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→draining',
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→healthy',
      '2026-11-23T17:40:01.123Z drain orders/orders-1 healthy→unhealthy',
      '',
    ]);
    expect(streams).toEqual(['/v1/events/stream?service=orders&after=4 last-event-id=4', '/v1/events/stream?service=orders&after=5 last-event-id=5']);
    expect(r.stderr).toMatch(/^meshctl: event stream from http:\/\/127\.0\.0\.1:\d+ lost \(the server ended the stream\); reconnecting in \d\.\d s, resuming after seq 5\n$/);
  });

  it('prints one JSON object per line with -o json', async () => {
    server.routes.set('GET /v1/events/stream', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`id: 9\nevent: mesh-event\ndata: ${JSON.stringify({ ...EVENTS.events[0], seq: 9 })}\n\n`);
    });
    const ctrlC = new AbortController();
    const r = await meshctl(['get', 'events', '-w', '-o', 'json', ...base], {
      interrupt: ctrlC.signal,
      onStdout: (t) => t.includes('"seq":9') && ctrlC.abort(),
    });
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).seq)).toEqual([4, 9]);
  });

  it('gives up at once on a refusal a retry cannot fix', async () => {
    server.routes.set('GET /v1/events/stream', { status: 401, body: { error: { code: 'MESHLET_UNAUTHORIZED', message: 'x' } } });
    const r = await run('events', '-w');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the token from --token \(401 MESHLET_UNAUTHORIZED\)/);
  });
});

describe('meshctl connection failures', () => {
  it('says which token was refused and never prints it', async () => {
    server.routes.set('GET /v1/policies', { status: 401, body: { error: { code: 'MESHLET_UNAUTHORIZED', message: 'send "Authorization: Bearer <auth.adminToken>"' } } });
    try {
      const r = await meshctl(['get', 'policies', '--server', server.url], { env: { MESHCTL_TOKEN: 'wrong-token-value' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^meshctl: the control plane at http:\/\/127\.0\.0\.1:\d+ refused the token from MESHCTL_TOKEN \(401 MESHLET_UNAUTHORIZED\)/);
      expect(r.stderr + r.stdout).not.toContain('wrong-token-value');
    } finally {
      server.routes.set('GET /v1/policies', { body: POLICIES });
    }
  });

  it('names the URL of a server that cannot be reached and suggests --server', async () => {
    const gone = await new CannedServer().start();
    const url = gone.url;
    await gone.stop();
    const r = await meshctl(['get', 'services'], { env: { MESHCTL_SERVER: url } });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `meshctl: cannot reach the control plane at ${url}: connection refused; is it running there? Point meshctl at it with --server URL, MESHCTL_SERVER or server: in /nonexistent-home/.config/meshctl/config.yaml (now from MESHCTL_SERVER)\n`,
    });
  });

  it('says when the answer is not JSON', async () => {
    server.routes.set('GET /v1/rings-not-json', { body: 'hello' });
    server.routes.set('GET /v1/services', { body: '<html>' });
    try {
      expect((await run('get', 'services')).stderr).toMatch(/GET \/v1\/services: http:\/\/127\.0\.0\.1:\d+ did not answer JSON; is it a meshlet control plane\?/);
    } finally {
      server.routes.set('GET /v1/services', { body: SERVICES });
    }
  });
});

describe('meshctl version and help', () => {
  it('prints the version and help without reading any config', async () => {
    const r = await meshctl(['version'], { env: { MESHCTL_CONFIG: '/does/not/exist' } });
    expect(r.stdout).toMatch(/^meshctl \d+\.\d+\.\d+ \(node v\d+/);
    expect((await meshctl(['apply', '--help'])).stdout).toMatch(/^meshctl apply: write service policies/);
    expect((await meshctl(['help'])).stdout).toMatch(/Commands:\n {2}get /);
  });
});
