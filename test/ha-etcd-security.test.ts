import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import getPort from 'get-port';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, api } from './harness/admin-api.js';
import { makeCa, makeCert } from './harness/certs.js';
import { ETCD_BIN, requireEtcd } from './harness/etcd.js';
import { CP_BIN, type ControlPlaneHandle, type Scratch, withMesh } from './harness/mesh.js';
import { Proc } from './harness/process.js';
import { sharedCa } from './harness/mesh-ca.js';
import { waitFor } from './harness/wait.js';

// The control plane on an etcd that checks who talks to it, as production
// etcd does: TLS with client certificates (`--client-cert-auth`), then etcd's
// users and roles. A replica with the right credentials leads and writes; one
// with missing or wrong ones does not start, and says which setting to fix;
// no password reaches its output.

const PASSWORD = 'etcd-pass-5c2e9a71d3b8f046';
const ROOT_PASSWORD = 'etcd-root-8d1f3b6a9c2e7054';

/** Starts a control plane that is expected to refuse to start; its exit code and output. */
async function failedStart(
  scratch: Scratch,
  name: string,
  etcd: Record<string, unknown>,
): Promise<{ code: number | null; output: string }> {
  const config = scratch.config(name, {
    listen: { host: '127.0.0.1', port: await getPort() },
    dataDir: join(scratch.dir, `${name}-data`),
    auth: { adminToken: ADMIN },
    store: { kind: 'etcd', etcd: { requestTimeoutMs: 1500, ...etcd } },
    // Replicas on etcd sign with operator CA files (auto is a config error there).
    identity: { ca: sharedCa(scratch.dir) },
  });
  const proc = new Proc(name, process.execPath, [CP_BIN, '--config', config]);
  const { code } = await proc.exited();
  return { code, output: proc.output };
}

describe('control plane on an etcd with TLS client certificates and users', () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let endpoint: string;
  let ca: { caFile: string; certFile: string; keyFile: string };
  let passwordFile: string;
  let admin: Etcd3;
  let cps: ControlPlaneHandle[] = [];

  const tls = () => ({ caFile: ca.caFile, certFile: ca.certFile, keyFile: ca.keyFile });
  const startOn = (prefix: string, extra: Record<string, unknown> = {}) =>
    mesh.controlPlane({
      auth: { adminToken: ADMIN },
      store: {
        kind: 'etcd',
        etcd: {
          endpoints: [endpoint],
          prefix,
          requestTimeoutMs: 2000,
          replicaId: `cp-${cps.length}`,
          tls: tls(),
          ...extra,
        },
      },
    });

  beforeAll(async () => {
    requireEtcd();
    const caFile = makeCa(scratch.dir, 'ca');
    makeCa(scratch.dir, 'other-ca');
    const server = makeCert(scratch.dir, 'ca', 'etcd');
    const client = makeCert(scratch.dir, 'ca', 'meshlet', { client: true, cn: 'meshlet' });
    ca = { caFile, ...client };
    passwordFile = join(scratch.dir, 'etcd-password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });

    const [clientPort, peerPort] = [await getPort(), await getPort()];
    endpoint = `https://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(scratch.dir, 'etcd-data');
    new Proc('etcd', ETCD_BIN, [
      '--name',
      'etcd0',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `etcd0=${peer}`,
      '--cert-file',
      server.certFile,
      '--key-file',
      server.keyFile,
      '--trusted-ca-file',
      caFile,
      '--client-cert-auth',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
    ]);
    const [cert, key, caPem] = [readFileSync(client.certFile), readFileSync(client.keyFile), readFileSync(caFile)];
    await waitFor(
      'etcd with TLS to be healthy',
      () =>
        new Promise<boolean>((resolve, reject) => {
          const req = request(`${endpoint}/health`, { ca: caPem, cert, key, timeout: 2000 }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => (body.includes('"health":"true"') ? resolve(true) : reject(new Error(body))));
          });
          req.on('error', reject);
          req.end();
        }),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    admin = new Etcd3({ hosts: [endpoint], credentials: { rootCertificate: caPem, privateKey: key, certChain: cert } });
  });

  afterAll(() => {
    admin?.close();
  });

  it('leads and keeps its configuration in etcd over TLS with a client certificate', async () => {
    const cp = await startOn('/meshlet-tls/');
    cps.push(cp);
    await waitFor(
      'the replica to lead',
      async () => (await api(cp, 'GET', '/v1/cluster')).body.leader?.replicaId === 'cp-0',
      { timeoutMs: 10_000 },
    );
    const put = await api(cp, 'PUT', '/v1/policies/hello', { policy: { balancer: { kind: 'least_request' } } });
    expect(put.status).toBe(200);
    const keys = await admin.getAll().prefix('/meshlet-tls/data/').keys();
    expect(keys.some((k) => k.includes('hello'))).toBe(true);
    await cp.proc.stop();
    cps = [];
  });

  it('does not start without a client certificate when etcd asks for one, and names the TLS settings', async () => {
    const { code, output } = await failedStart(scratch, 'cp-no-client-cert', {
      endpoints: [endpoint],
      tls: { caFile: ca.caFile },
    });
    expect(code).not.toBe(0);
    expect(output).toContain('cannot be reached over TLS');
    expect(output).toContain('Fix: check store.etcd.tls.caFile');
  });

  it('does not start when it does not trust the members, and names store.etcd.tls.caFile', async () => {
    const { code, output } = await failedStart(scratch, 'cp-wrong-ca', {
      endpoints: [endpoint],
      tls: { ...tls(), caFile: join(scratch.dir, 'other-ca.crt') },
    });
    expect(code).not.toBe(0);
    expect(output).toContain('cannot be reached over TLS');
    expect(output).toContain('Fix: check store.etcd.tls.caFile');
  });

  it('with etcd auth on: leads and writes as its user, and refuses wrong passwords and missing permissions naming the fix', async () => {
    // etcd's own setup for auth: a root user, a role with readwrite on the control plane's prefix, a user with that role.
    await admin.user('root').create(ROOT_PASSWORD);
    await admin.user('root').addRole('root');
    const role = await admin.role('meshlet').create();
    await role.grant({ permission: 'Readwrite', range: admin.range({ prefix: '/meshlet-auth/' }) });
    await admin.user('cp').create(PASSWORD);
    await admin.user('cp').addRole('meshlet');
    await admin.auth.authEnable();

    const cp = await startOn('/meshlet-auth/', { username: 'cp', passwordFile });
    cps.push(cp);
    await waitFor(
      'the replica to lead',
      async () => (await api(cp, 'GET', '/v1/cluster')).body.leader?.replicaId === 'cp-0',
      { timeoutMs: 10_000 },
    );
    const put = await api(cp, 'PUT', '/v1/policies/hello', { policy: { balancer: { kind: 'round_robin' } } });
    expect(put.status).toBe(200);
    expect((await api(cp, 'GET', '/v1/policies/hello')).body.policy.balancer.kind).toBe('round_robin');

    const wrongFile = join(scratch.dir, 'wrong-password');
    writeFileSync(wrongFile, 'not-the-password-at-all\n');
    const wrong = await failedStart(scratch, 'cp-wrong-password', {
      endpoints: [endpoint],
      prefix: '/meshlet-auth/',
      tls: tls(),
      username: 'cp',
      passwordFile: wrongFile,
    });
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toContain('refused the user');
    expect(wrong.output).toContain('Fix: check store.etcd.username and the password in store.etcd.passwordFile');
    expect(wrong.output).not.toContain('not-the-password-at-all');

    const elsewhere = await failedStart(scratch, 'cp-no-permission', {
      endpoints: [endpoint],
      prefix: '/other-mesh/',
      tls: tls(),
      username: 'cp',
      passwordFile,
    });
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.output).toContain('readwrite on the prefix /other-mesh/');

    for (const out of [cp.proc.output, wrong.output, elsewhere.output]) expect(out).not.toContain(PASSWORD);
  });
});
