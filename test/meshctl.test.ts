import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type ControlPlaneHandle, Scratch, startControlPlane, withMesh } from './harness/mesh.js';
import { makeCa, makeCert } from './harness/certs.js';
import { cleanEnv, MESHCTL, meshctl, rowOf, type Run } from './harness/meshctl.js';
import { waitFor } from './harness/wait.js';

// meshctl, the built binary, against real control planes with real agents:
// every command, its output formats, and its failures as an operator meets
// them (a stale write, a wrong token, a server that is not there).

const ADMIN = 'meshctl-admin-token-0123456789';

/** A throw-away CA and a certificate for 127.0.0.1 signed by it. */
function makeCerts(dir: string): { caFile: string; certFile: string; keyFile: string } {
  return { caFile: makeCa(dir, 'ca'), ...makeCert(dir, 'ca', 'server') };
}

describe('meshctl', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  let env: Record<string, string>;
  const run = (...args: string[]) => meshctl(args, { env, home: scratch.dir });
  const json = async (...args: string[]) => {
    const r = await run(...args, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    ({ cp } = await mesh.start({
      controlPlane: { auth: { adminToken: ADMIN }, failover: { failbackHoldMs: 60_000 } },
      instances: {
        db: [
          { id: 'db-1', tier: 0, zone: 'eu-1a' },
          { id: 'db-2', tier: 1, zone: 'eu-1a' },
        ],
        hello: ['hello-1'],
      },
      client: { calls: ['db', 'hello'] },
    }));
    env = { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: ADMIN };
    await waitFor('every instance healthy and the client in sync', async () => {
      const services = await json('get', 'services');
      const agents = await json('get', 'agents');
      return (
        services.services.length === 2 &&
        services.services.every((s: { healthy: number; total: number }) => s.healthy === s.total) &&
        agents.agents.every((a: { inSync: boolean }) => a.inSync)
      );
    });
  });

  it('gets services, instances and agents as a table, as JSON and as YAML', async () => {
    const services = await run('get', 'services');
    expect(services.code).toBe(0);
    expect(services.stdout.split('\n')[0]).toBe('NAME    HEALTHY/TOTAL   ACTIVE-TIER   VERSION');
    expect(rowOf(services.stdout, 'db')?.slice(0, 3)).toEqual(['db', '2/2', '0']);
    expect(rowOf(services.stdout, 'hello')?.slice(0, 2)).toEqual(['hello', '1/1']);
    // No colours and nothing cut in a pipe.
    expect(services.stdout).not.toContain('\u001b[');

    const instances = await run('get', 'instances');
    expect(instances.stdout.split('\n')[0]).toMatch(/^ID +SERVICE +STATE +TIER +ZONE +REASON$/);
    expect(rowOf(instances.stdout, 'db-2')?.slice(0, 5)).toEqual(['db-2', 'db', 'healthy', '1', 'eu-1a']);
    expect(rowOf((await run('get', 'instances', '--service', 'hello')).stdout, 'db-1')).toBeUndefined();

    const agents = await run('get', 'agents');
    expect(agents.stdout.split('\n')[0]).toMatch(/^AGENT +CONNECTED +REPLICA +SERVICE +APPLIED +SENT +IN-SYNC +NACK$/);
    const client = rowOf(agents.stdout, 'client');
    expect(client?.[1]).toBe('yes');
    // REPLICA: one control plane, so every agent is on the one answering.
    expect(client?.[2]).toBe('-');
    expect(client?.[3]).toBe('-');
    expect(client?.[4]).toBe(client?.[5]);
    expect(client?.slice(6)).toEqual(['yes', '-']);

    const viaJson = await json('get', 'instances');
    expect(viaJson.items.map((i: { id: string }) => i.id)).toEqual(['db-1', 'db-2', 'hello-1']);
    const viaYaml = parseYaml((await run('get', 'agents', '-o', 'yaml')).stdout);
    expect(viaYaml.agents.map((a: { agentId: string }) => a.agentId)).toEqual(['client', 'db-1', 'db-2', 'hello-1']);
    expect(await json('get', 'service', 'db')).toMatchObject({
      name: 'db',
      healthy: 2,
      total: 2,
      activeTier: 0,
      policy: { balancer: { kind: 'round_robin' } },
    });
    expect(await json('get', 'agent', 'db-1')).toMatchObject({
      agentId: 'db-1',
      connected: true,
      instance: { service: 'db', tier: 0 },
    });
  });

  it('shows a control plane on the file store as standalone', async () => {
    const cluster = await run('get', 'cluster');
    expect(cluster.stderr).toBe('');
    expect(cluster.stdout.split('\n')[0]).toMatch(/^REPLICA +ROLE +LEADER +LEADER-URL +SINCE +STORE$/);
    const row = rowOf(cluster.stdout, 'standalone');
    expect(row?.slice(0, 4)).toEqual(['standalone', 'standalone', '-', '-']);
    expect(row?.[4]).toMatch(/^\d+(s|m\d*s?)$/);
    expect(row?.[5]).toBe('file');
    expect(await json('get', 'cluster')).toMatchObject({
      replicaId: 'standalone',
      role: 'standalone',
      leader: null,
      store: 'file',
    });
  });

  it('applies a policy file, gets it back, and refuses a stale resourceVersion with the 409 message', async () => {
    const file = join(scratch.dir, 'db-policy.yaml');
    writeFileSync(
      file,
      'kind: Policy\nservice: db\npolicy:\n  balancer: { kind: least_request }\n  retries: { maxRetries: 3 }\nresourceVersion: "0"\n',
    );
    const applied = await run('apply', '-f', file);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    const rv = /^policy\/db configured \(resourceVersion (\d+)\)\n$/.exec(applied.stdout)?.[1];
    expect(rv).toBeDefined();

    const item = await json('get', 'policies', 'db');
    expect(item).toMatchObject({
      service: 'db',
      source: 'api',
      resourceVersion: rv,
      policy: { balancer: { kind: 'least_request' }, retries: { maxRetries: 3 } },
    });
    expect(rowOf((await run('get', 'policies')).stdout, 'db')).toEqual(['db', 'api', 'least_request', rv]);

    // Again with "0" (create only if absent): someone else's write is not overwritten.
    const stale = await run('apply', '-f', file);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toBe('');
    expect(stale.stderr).toMatch(
      new RegExp(`^meshctl: policy/db \\(${file}:1\\): .*stale.* \\(409 MESHLET_CONFLICT\\)\\n$`),
    );

    // JSON from stdin, with the current version: accepted.
    const next = await meshctl(['apply', '-f', '-'], {
      env,
      home: scratch.dir,
      stdin: JSON.stringify({
        kind: 'Policy',
        service: 'db',
        policy: { balancer: { kind: 'random' } },
        resourceVersion: rv,
      }),
    });
    expect(next.code).toBe(0);
    expect(Number(/resourceVersion (\d+)/.exec(next.stdout)?.[1])).toBeGreaterThan(Number(rv));

    // A policy field the control plane refuses: its message and the field.
    writeFileSync(file, 'kind: Policy\nservice: db\npolicy:\n  balancer: { kind: fastest }\n');
    const invalid = await run('apply', '-f', file);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/policy\.balancer\.kind.*\(400 MESHLET_API_INVALID\)/);

    // A file that is not a policy: nothing sent, status 2.
    writeFileSync(file, 'service: db\npolicy: {}\n');
    expect(await run('apply', '-f', file)).toMatchObject({
      code: 2,
      stderr: `meshctl: ${file}:1: kind is missing (Policy or AuthorizationPolicy)\n`,
    });
  });

  it('drains and undrains an instance; the drain is an event', async () => {
    const drained = await run('drain', 'db-2', '--reason', 'kernel upgrade');
    expect(drained).toEqual({ code: 0, stdout: 'instance/db-2 (db) draining\n', stderr: '' });
    expect(rowOf((await run('get', 'instances')).stdout, 'db-2')?.slice(0, 3)).toEqual(['db-2', 'db', 'draining']);
    expect((await json('get', 'instance', 'db-2')).state).toBe('draining');

    const events = await run('get', 'events', '--kind', 'drain', '--instance', 'db-2');
    expect(events.stdout.split('\n')[0]).toMatch(/^TIME +KIND +SERVICE +INSTANCE +FROM→TO +REASON$/);
    const row = events.stdout.split('\n').find((l) => l.includes('→draining'));
    expect(row).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z +drain +db +db-2 +\w+→draining +.*kernel upgrade/);
    expect((await run('events', '--service', 'db', '-o', 'json')).stdout).toContain('"to": "draining"');

    const undrained = await run('undrain', 'db-2');
    expect(undrained.code).toBe(0);
    expect(undrained.stdout).toMatch(/^instance\/db-2 \(db\) \w+\n$/);
    await waitFor('db-2 healthy again', async () => (await json('get', 'instance', 'db-2')).state === 'healthy');
    expect((await run('drain', 'db-9')).stderr).toMatch(/^meshctl: drain db-9: .*db-9.* \(404 MESHLET_NOT_FOUND\)\n$/);
  });

  it('fails a two-tier service over and back, and says why a one-tier service cannot', async () => {
    expect(await run('failover', 'db')).toEqual({
      code: 0,
      stdout: 'service/db failed over: active tier 1\n',
      stderr: '',
    });
    expect((await json('get', 'service', 'db')).activeTier).toBe(1);
    expect(rowOf((await run('get', 'services')).stdout, 'db')?.[2]).toBe('1');
    expect(await run('failback', 'db')).toEqual({
      code: 0,
      stdout: 'service/db failed back: active tier 0\n',
      stderr: '',
    });
    expect((await json('get', 'service', 'db')).activeTier).toBe(0);
    const one = await run('failover', 'hello');
    expect(one.code).toBe(1);
    expect(one.stderr).toMatch(/^meshctl: failover hello: .+ \(409 MESHLET_CONFLICT\)\n$/);
  });

  it('follows events: a drain made while it runs is printed, and Ctrl-C ends it with status 0', async () => {
    const child = spawn(process.execPath, [MESHCTL, 'events', '--follow', '--service', 'db', '--kind', 'drain'], {
      env: cleanEnv(scratch.dir, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    try {
      // The events listed first (db-2's drain and undrain), then the stream is open.
      await waitFor('the listed events', () => out.includes('db/db-2'), { timeoutMs: 10_000 });
      const listed = out;
      expect(await run('drain', 'db-1')).toMatchObject({ code: 0 });
      const line = await waitFor(
        'the streamed drain of db-1',
        () => out.split('\n').find((l) => l.includes('db/db-1') && l.includes('→draining')),
        { timeoutMs: 10_000 },
      );
      expect(out.startsWith(listed)).toBe(true);
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z +drain +db\/db-1 +\w+→draining +drained by an operator/);
      child.kill('SIGINT');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(err).toBe('');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await run('undrain', 'db-1');
    }
  });

  it('backs up full and incremental, and restores both into a fresh control plane', async () => {
    const full = join(scratch.dir, 'full.json');
    const b1 = await run('backup', '-f', full);
    expect(b1.code).toBe(0);
    const [, rev, keys] = /^full backup at revision (\d+): (\d+) keys -> (.+)\n$/.exec(b1.stderr) ?? [];
    expect(b1.stderr).toContain(`-> ${full}`);
    expect(Number(keys)).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(full, 'utf8'))).toMatchObject({
      format: 'meshlet-snapshot/v1',
      kind: 'full',
      revision: Number(rev),
    });

    const hello = join(scratch.dir, 'hello-policy.yaml');
    writeFileSync(hello, 'kind: Policy\nservice: hello\npolicy:\n  timeouts: { requestMs: 2500 }\n');
    expect((await run('apply', '-f', hello)).code).toBe(0);
    const inc = join(scratch.dir, 'inc.json');
    const b2 = await run('backup', '--since', rev as string, '-f', inc);
    expect(b2.code).toBe(0);
    expect(b2.stderr).toMatch(new RegExp(`^incremental backup since ${rev}\\.\\.(\\d+): [1-9]\\d* keys -> ${inc}\\n$`));

    // A second control plane with an empty data directory.
    const other = new Scratch();
    try {
      const cp2 = await startControlPlane(other, { auth: { adminToken: ADMIN } });
      const env2 = { MESHCTL_SERVER: cp2.url, MESHCTL_TOKEN: ADMIN };
      const run2 = (...args: string[]) => meshctl(args, { env: env2, home: scratch.dir });
      expect(JSON.parse((await run2('get', 'policies', '-o', 'json')).stdout).items).toEqual([]);

      // In the wrong order: refused, naming the file, and nothing restored.
      const wrong = await run2('restore', '-f', inc, '-f', full);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(new RegExp(`snapshot 1 of 2 \\(${inc}\\).*\\(400 MESHLET_API_INVALID\\)`));

      const restored = await run2('restore', '-f', full, '-f', inc);
      expect(restored.stderr).toBe('');
      expect(restored.stdout).toMatch(/^restored \d+ keys at revision \d+ from 2 files\n$/);
      // The same policies; the resource versions are the new store's own (a restore writes afresh).
      const policies = async (r: (...a: string[]) => Promise<Run>) =>
        JSON.parse((await r('get', 'policies', '-o', 'json')).stdout).items.map(
          ({ resourceVersion: _rv, ...item }: { resourceVersion: string }) => item,
        );
      const restoredPolicies = await policies(run2);
      expect(restoredPolicies.map((p: { service: string }) => p.service).sort()).toEqual(['db', 'hello']);
      expect(restoredPolicies).toEqual(await policies(run));
    } finally {
      other.remove();
    }
  });

  it('reads the server and token from a config file, flags winning over it', async () => {
    const config = join(scratch.dir, 'meshctl.yaml');
    writeFileSync(config, `server: ${cp.url}\ntoken: ${ADMIN}\n`);
    const viaFile = await meshctl(['get', 'services', '--config', config], { env: {}, home: scratch.dir });
    expect(viaFile.code).toBe(0);
    const port = await getPort();
    const flagWins = await meshctl(['get', 'services', '--config', config, '--server', `http://127.0.0.1:${port}`], {
      env: {},
      home: scratch.dir,
    });
    expect(flagWins.code).toBe(1);
    expect(flagWins.stderr).toContain(`http://127.0.0.1:${port}`);
  });

  it('says which token was refused, without printing it', async () => {
    const r = await meshctl(['get', 'services'], {
      env: { MESHCTL_SERVER: cp.url, MESHCTL_TOKEN: 'not-the-right-token-at-all' },
      home: scratch.dir,
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^meshctl: the control plane at http:\/\/127\.0\.0\.1:\d+ refused the token from MESHCTL_TOKEN \(401 MESHLET_UNAUTHORIZED\); use its auth\.adminToken/,
    );
    expect(r.stderr).not.toContain('not-the-right-token-at-all');
    const none = await meshctl(['get', 'services', '--server', cp.url], { env: {}, home: scratch.dir });
    expect(none.stderr).toMatch(
      /needs a token \(401 MESHLET_UNAUTHORIZED\); pass its auth\.adminToken .* with --token, MESHCTL_TOKEN or token: in /,
    );
  });

  it('names the URL of a control plane that cannot be reached', async () => {
    const url = `http://127.0.0.1:${await getPort()}`;
    const r = await meshctl(['get', 'services', '--server', url], { env: {}, home: scratch.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `meshctl: cannot reach the control plane at ${url}: connection refused; is it running there? Point meshctl at it with --server URL, MESHCTL_SERVER or server: in ${join(scratch.dir, '.config', 'meshctl', 'config.yaml')} (now from --server)\n`,
    );
  });

  it('talks https to a control plane with a private CA given by --ca-file', async () => {
    const tls = new Scratch();
    try {
      const { caFile, certFile, keyFile } = makeCerts(tls.dir);
      const cp3 = await startControlPlane(tls, { auth: { adminToken: ADMIN }, tls: { certFile, keyFile } });
      expect(cp3.url).toMatch(/^https:/);
      const untrusted = await meshctl(['get', 'services'], {
        env: { MESHCTL_SERVER: cp3.url, MESHCTL_TOKEN: ADMIN },
        home: tls.dir,
      });
      expect(untrusted.code).toBe(1);
      expect(untrusted.stderr).toMatch(
        /its certificate is not trusted \(\w+\); pass the CA that signed it with --ca-file/,
      );
      const trusted = await meshctl(['get', 'services', '--ca-file', caFile, '-o', 'json'], {
        env: { MESHCTL_SERVER: cp3.url, MESHCTL_TOKEN: ADMIN },
        home: tls.dir,
      });
      expect(trusted.stderr).toBe('');
      expect(JSON.parse(trusted.stdout)).toMatchObject({ services: [] });
    } finally {
      tls.remove();
    }
  });
});
