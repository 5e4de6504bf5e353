import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CannedServer, meshctl, useCannedServer } from './test-support/cli-harness.js';
import { MESH_ANSWERS, POLICIES, SERVICES } from './test-support/mesh-answers.js';

const dir = mkdtempSync(join(tmpdir(), 'meshctl-run-'));
const { server, base, run } = useCannedServer(MESH_ANSWERS);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('meshctl apply and delete', () => {
  it('PUTs each document of a file or stdin, and prints its resourceVersion', async () => {
    let rv = 30;
    server.routes.set('PUT /v1/policies/a', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          service: 'a',
          source: 'api',
          resourceVersion: String(++rv),
          policy: JSON.parse(req.body).policy,
        }),
      );
    });
    server.routes.set('PUT /v1/policies/b', {
      body: { service: 'b', source: 'api', resourceVersion: '40', policy: {} },
    });
    const r = await meshctl(['apply', '-f', '-', ...base], {
      stdin:
        'kind: Policy\nservice: a\npolicy:\n  retries: { maxRetries: 3 }\n---\nkind: Policy\nservice: b\npolicy: {}\nresourceVersion: 39\n',
    });
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: 'policy/a configured (resourceVersion 31)\npolicy/b configured (resourceVersion 40)\n',
    });
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
      body: {
        error: {
          code: 'MESHLET_CONFLICT',
          message: 'resourceVersion 3 is stale: the policy of "stale" is at 21; get it again and reapply your change',
          field: 'resourceVersion',
        },
      },
    });
    const file = join(dir, 'two.yaml');
    writeFileSync(
      file,
      'kind: Policy\nservice: stale\npolicy: {}\nresourceVersion: "3"\n---\nkind: Policy\nservice: b\npolicy: {}\n',
    );
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
    expect(await run('apply', '-f', good, '-f', join(dir, 'missing.yaml'))).toMatchObject({
      code: 2,
      stderr: `meshctl: cannot read ${join(dir, 'missing.yaml')}: no such file\n`,
    });
    expect(await run('apply', '-f', good, '-f', good)).toMatchObject({
      code: 2,
      stderr: `meshctl: ${good}:1: Policy of service a is already configured at ${good}:1; keep one document per service and kind\n`,
    });
    expect(server.seen.length).toBe(before);
  });

  it('deletes a policy, with the resourceVersion in the query', async () => {
    server.routes.set('DELETE /v1/policies/orders', { body: { service: 'orders', deleted: true } });
    expect(await run('delete', 'policy', 'orders', '--resource-version', '21')).toEqual({
      code: 0,
      stdout: 'policy/orders deleted\n',
      stderr: '',
    });
    expect(server.seen.at(-1)?.url).toBe('/v1/policies/orders?resourceVersion=21');
    expect(await run('delete', 'instance', 'orders-1')).toMatchObject({ code: 2 });
  });

  it('deletes a service name, with no resourceVersion', async () => {
    server.routes.set('DELETE /v1/services/ordres', { body: { service: 'ordres', deleted: true } });
    expect(await run('delete', 'service', 'ordres')).toEqual({
      code: 0,
      stdout: 'service/ordres deleted\n',
      stderr: '',
    });
    expect(server.seen.at(-1)?.url).toBe('/v1/services/ordres');
    expect(await run('delete', 'service', 'ordres', '--resource-version', '3')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--resource-version applies to policies only'),
    });
  });

  it('a bad --resource-version for delete authz points at get authz, not at policies', async () => {
    const r = await run('delete', 'authz', 'orders', '--resource-version', 'v1');
    expect(r).toMatchObject({ code: 2 });
    expect(r.stderr).toContain('use the resourceVersion number from meshctl get authz orders');
    expect(r.stderr).not.toContain('get policies');
  });
});

describe('meshctl backup and restore', () => {
  const full = {
    format: 'meshlet-snapshot/v1',
    kind: 'full',
    clusterId: 'c1',
    since: 0,
    revision: 57,
    createdAt: 'x',
    entries: [{ key: 'a' }, { key: 'b' }],
    checksum: 'sha256:0',
  };
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
    expect(await run('restore', '-f', f1, '-f', f2)).toEqual({
      code: 0,
      stderr: '',
      stdout: 'restored 2 keys at revision 61 from 2 files\n',
    });
    expect(JSON.parse(server.seen.at(-1)?.body ?? '')).toEqual({ snapshots: [full, inc] });
    server.routes.set('POST /v1/snapshots/restore', {
      status: 400,
      body: {
        error: {
          code: 'MESHLET_API_INVALID',
          message: 'snapshot 2 of 2: since 50 is not the revision of snapshot 1 of 2 (57)',
          field: 'since',
        },
      },
    });
    expect((await run('restore', '-f', f1, '-f', f2)).stderr).toBe(
      `meshctl: restore: snapshot 2 of 2 (${f2}): since 50 is not the revision of snapshot 1 of 2 (${f1}) (57) (400 MESHLET_API_INVALID)\n`,
    );
  });

  it('refuses a file that is not a snapshot before sending anything', async () => {
    const bad = join(dir, 'policy.json');
    writeFileSync(bad, '{"kind":"Policy"}');
    expect(await run('restore', '-f', bad)).toMatchObject({
      code: 2,
      stderr: `meshctl: ${bad} is not a meshlet snapshot (no format field, expected "meshlet-snapshot/v1"); pass a file written by meshctl backup\n`,
    });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"format": "meshlet-snapshot/v1",');
    expect((await run('restore', '-f', broken)).stderr).toMatch(
      new RegExp(`^meshctl: ${broken}:1:34: not valid JSON: \\w`),
    );
  });
});

describe('meshctl connection failures', () => {
  it('says which token was refused and never prints it', async () => {
    server.routes.set('GET /v1/policies', {
      status: 401,
      body: { error: { code: 'MESHLET_UNAUTHORIZED', message: 'send "Authorization: Bearer <auth.adminToken>"' } },
    });
    try {
      const r = await meshctl(['get', 'policies', '--server', server.url], {
        env: { MESHCTL_TOKEN: 'wrong-token-value' },
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /^meshctl: the control plane at http:\/\/127\.0\.0\.1:\d+ refused the token from MESHCTL_TOKEN \(401 MESHLET_UNAUTHORIZED\)/,
      );
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
      expect((await run('get', 'services')).stderr).toMatch(
        /GET \/v1\/services: http:\/\/127\.0\.0\.1:\d+ did not answer JSON; is it a meshlet control plane\?/,
      );
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
