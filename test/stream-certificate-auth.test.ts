import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkloadKey } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeCert } from './harness/certs.js';
import { httpRequest } from './harness/http.js';
import { type AgentHandle, type AppHandle, type ControlPlaneHandle, startDemoApp, withMesh } from './harness/mesh.js';
import { type CaFileSettings, sharedCa } from './harness/mesh-ca.js';
import { type HelloOutcome, sendRawHello } from './harness/raw-hello.js';
import { waitFor } from './harness/wait.js';

// An agent's workload certificate authenticates its stream: a control plane
// serving wss (tls.*) asks every client for a certificate, and a hello on a
// stream that presented a valid one of the mesh CA is admitted as that
// certificate's workload, without a join credential. Real control-plane
// process, real TLS on loopback, certificates from the mesh's own CA files.

const ADMIN = 'admin-0c4e8b1f9a2d7e65';
const TRUST_DOMAIN = 'meshlet.local';

/** A workload certificate of `authority` for `service`/`instanceId`: what an agent holds after its first `csr`. */
async function workload(authority: CertificateAuthority, service: string, instanceId: string, credentialId?: string) {
  const key = await WorkloadKey.generate();
  const csr = await key.certificateRequest({ spiffeId: { trustDomain: TRUST_DOMAIN, service }, instanceId });
  const issued = await authority.sign(csr, { service, instanceId, credentialId });
  return { key: await key.privateKeyPem(), cert: issued.certificateChainPem, notAfter: issued.notAfter.getTime() };
}

/** Sends one hello on a fresh wss stream, presenting `client` as its TLS client certificate, as a script would. */
const helloOver = (
  cp: ControlPlaneHandle,
  serverCa: Buffer,
  client: { key: string; cert: string } | undefined,
  hello: Record<string, unknown>,
  localAddress = '127.0.0.1',
): Promise<HelloOutcome> => sendRawHello(cp.streamUrl, hello, { ca: serverCa, localAddress, ...(client ?? {}) });

/** A hello registering instance `id` of `service` at the loopback address the stream comes from. */
const instanceHello = (service: string, id: string, agentId = id) => ({
  agentId,
  instance: { service, id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} },
});

describe("the agent's certificate authenticates its stream (wss)", () => {
  const mesh = withMesh();
  const { scratch } = mesh;
  let cp: ControlPlaneHandle;
  let serverCa: Buffer;
  let caFile: string;
  let meshCaFiles: CaFileSettings;
  let meshCa: CertificateAuthority;
  let helloCredential: string;
  const admin = () => ({ headers: { authorization: `Bearer ${ADMIN}` }, tls: { ca: serverCa } });
  const metric = async (line: string): Promise<number> => {
    const a = await httpRequest(cp.port, '/metrics', admin());
    const found = a.body.split('\n').find((l) => l.startsWith(`${line} `));
    return found === undefined ? 0 : Number(found.split(' ')[1]);
  };

  beforeAll(async () => {
    caFile = makeCa(scratch.dir, 'tls-ca');
    serverCa = readFileSync(caFile);
    const { certFile, keyFile } = makeCert(scratch.dir, 'tls-ca', 'server');
    meshCaFiles = sharedCa(scratch.dir);
    cp = await mesh.controlPlane({
      tls: { certFile, keyFile },
      auth: { adminToken: ADMIN },
      identity: { ca: meshCaFiles },
    });
    meshCa = await CertificateAuthority.open({ source: { kind: 'files', ...meshCaFiles }, clock: Date.now });
    // The credential the test's own certificates are issued under, as an agent's are: one that stands.
    helloCredential = (await mint('hello', '1h')).id;
  });

  it('admits a hello presenting a valid certificate of hello-1 without a join credential', async () => {
    const hello1 = await workload(meshCa, 'hello', 'hello-1', helloCredential);
    const before = await metric('meshlet_cp_stream_admissions_total{auth="certificate"}');
    expect(await helloOver(cp, serverCa, hello1, instanceHello('hello', 'hello-1'))).toEqual({ admitted: true });
    expect(
      await helloOver(cp, serverCa, hello1, {
        ...instanceHello('hello', 'hello-1'),
        joinToken: 'mjc_0123456789abcdef_' + 'x'.repeat(43),
      }),
    ).toEqual({
      admitted: true,
    });
    expect(await metric('meshlet_cp_stream_admissions_total{auth="certificate"}')).toBe(before + 2);
    // Without a certificate the same hello is a hello without a credential.
    const bare = await helloOver(cp, serverCa, undefined, instanceHello('hello', 'hello-1'));
    expect(bare).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('join credential required'),
    });
  });

  it('attack: certificate for hello claims orders, or another instance: refused with a reason naming the certificate', async () => {
    const hello1 = await workload(meshCa, 'hello', 'hello-1', helloCredential);
    const orders = await helloOver(cp, serverCa, hello1, instanceHello('orders', 'hello-1'));
    expect(orders).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('client certificate is for service hello; the hello claims orders'),
    });
    expect(orders.admitted === false && orders.error.code).toBe('MESHLET_JOIN_TOKEN_INVALID');
    const clientOnly = await helloOver(cp, serverCa, hello1, { agentId: 'hello-1', service: 'orders' });
    expect(clientOnly).toMatchObject({ admitted: false, code: 4003 });
    const other = await helloOver(cp, serverCa, hello1, instanceHello('hello', 'hello-2'));
    expect(other).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining(
        'client certificate is for instance hello-1 of hello; the hello is instance hello-2',
      ),
    });
    expect(await metric('meshlet_cp_join_refusals_total{reason="wrong_instance"}')).toBeGreaterThanOrEqual(1);
  });

  it('attack: an expired certificate is not accepted as authentication (the credential path decides: none, refused)', async () => {
    const shortCa = await CertificateAuthority.open({
      source: { kind: 'files', ...meshCaFiles },
      clock: Date.now,
      leafLifetimeMs: 1000,
    });
    const expired = await workload(shortCa, 'hello', 'hello-1', helloCredential);
    await waitFor('the certificate to expire', () => Date.now() > expired.notAfter + 1000, { timeoutMs: 10_000 });
    const out = await helloOver(cp, serverCa, expired, instanceHello('hello', 'hello-1'));
    expect(out).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('join credential required'),
    });
    expect(await metric('meshlet_cp_stream_client_certificates_ignored_total{reason="expired"}')).toBe(1);
    await waitFor('the log to say why', () =>
      cp.proc.output.includes('ignored a client certificate on the agent stream'),
    );
    expect(cp.proc.output).not.toContain(expired.key.split('\n')[1] as string);
  });

  it('attack: a certificate from another CA is not accepted as authentication', async () => {
    const foreignCa = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: Date.now });
    const foreign = await workload(foreignCa, 'hello', 'hello-1', helloCredential);
    const out = await helloOver(cp, serverCa, foreign, instanceHello('hello', 'hello-1'));
    expect(out).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('join credential required'),
    });
    expect(await metric('meshlet_cp_stream_client_certificates_ignored_total{reason="untrusted"}')).toBe(1);
  });

  /** Mints a credential for `service` living `ttl`, through the admin API: its id, secret and expiry. */
  async function mint(service: string, ttl: string): Promise<{ id: string; credential: string; expiresAt: number }> {
    const a = await httpRequest(cp.port, '/v1/join-credentials', {
      ...admin(),
      method: 'POST',
      headers: { ...admin().headers, 'content-type': 'application/json' },
      body: JSON.stringify({ service, ttl }),
    });
    expect(a.status).toBe(201);
    const body = a.json();
    return { id: body.id, credential: body.credential, expiresAt: Date.parse(body.expiresAt) };
  }

  const agentRecord = async (agentId: string): Promise<any> => {
    const a = await httpRequest(cp.port, '/v1/agents', admin());
    return (a.json().agents as any[]).find((r) => r.agentId === agentId);
  };

  it('a bootstrap credential that expired: the agent, restarted with its persisted certificate, rejoins by it and traffic flows', async () => {
    const short = await mint('web', '4s');
    const app: AppHandle = await startDemoApp('web', 'web-1');
    const web: AgentHandle = await mesh.agent({
      agentId: 'web-1',
      cp,
      instance: { service: 'web', app },
      caFile,
      joinToken: short.credential,
    });
    const client = await mesh.agent({
      agentId: 'caller',
      cp,
      service: 'caller',
      outbound: true,
      calls: ['web'],
      caFile,
    });
    const call = () => httpRequest(client.outboundPort as number, '/', { headers: { host: 'web' } });
    await waitFor('web-1 to hold its certificate', async () => (await agentRecord('web-1'))?.certificate !== undefined);
    await waitFor('the caller to reach web over mTLS', async () => (await call()).status === 200);
    await waitFor('the credential to expire', async () => Date.now() > short.expiresAt + 500, { timeoutMs: 10_000 });
    const byCertificate = await metric('meshlet_cp_stream_admissions_total{auth="certificate"}');

    // Restarted (its data directory kept, its only credential expired): admitted by the certificate it persisted.
    web.proc.child.kill('SIGKILL');
    await waitFor('web-1 to be seen gone', async () => (await agentRecord('web-1'))?.connected === false);
    await mesh.agent({ agentId: 'web-1', cp, instance: { service: 'web', app }, caFile, reuse: web });
    await waitFor('web-1 admitted again, by its certificate', async () =>
      (await metric('meshlet_cp_stream_admissions_total{auth="certificate"}')) > byCertificate &&
      (await agentRecord('web-1'))?.connected === true
        ? true
        : undefined,
    );
    await waitFor('the caller to reach web again', async () => (await call()).status === 200);
    for (let i = 0; i < 5; i++) expect((await call()).status).toBe(200);
  });

  it('attack: a stolen certificate after its credential was revoked is refused, and so is the credential', async () => {
    const cred = await mint('shop', '1h');
    const app: AppHandle = await startDemoApp('shop', 'shop-1');
    const shop: AgentHandle = await mesh.agent({
      agentId: 'shop-1',
      cp,
      instance: { service: 'shop', app },
      caFile,
      joinToken: cred.credential,
    });
    await waitFor(
      'shop-1 to hold its certificate',
      async () => (await agentRecord('shop-1'))?.certificate !== undefined,
    );
    // What a thief copies from the agent's data directory: its key and certificate.
    const file = join(shop.dataDir, 'workload-identity.json');
    const kept = await waitFor('the agent to keep its certificate in its data directory', () =>
      existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined,
    );
    const stolen = { key: kept.certificate.keyPem as string, cert: kept.certificate.certChainPem as string };
    // Before the revoke the certificate alone is enough.
    expect(await helloOver(cp, serverCa, stolen, instanceHello('shop', 'shop-1', 'shop-thief'))).toEqual({
      admitted: true,
    });

    const revoked = await httpRequest(cp.port, `/v1/join-credentials/${cred.id}`, { ...admin(), method: 'DELETE' });
    expect(revoked.status).toBeLessThan(300);
    // The certificate names the revoked credential: it proves nothing any more, with or without the credential.
    const thief = await helloOver(cp, serverCa, stolen, instanceHello('shop', 'shop-1', 'shop-thief'));
    expect(thief).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('join credential required'),
    });
    // From an address of its own: shop-1 and the other agents' wrong credentials have 127.0.0.1 throttled by now
    // (4029, security.md "Before the hello").
    const withCredential = await helloOver(
      cp,
      serverCa,
      stolen,
      { ...instanceHello('shop', 'shop-1', 'shop-thief'), joinToken: cred.credential },
      '127.0.0.3',
    );
    expect(withCredential).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('was revoked'),
    });
    await waitFor('the control plane to say why', () =>
      cp.proc.output.includes('ignored a client certificate issued under a revoked join credential'),
    );
    // The real agent is sent away and stays out until it is given a new credential.
    await waitFor('shop-1 to be sent away', async () => (await agentRecord('shop-1'))?.connected === false);
  });

  it('attack: a certificate that names no join credential (as the shared token would give) is not accepted while the shared token is off', async () => {
    const unnamed = await workload(meshCa, 'hello', 'hello-1');
    const out = await helloOver(cp, serverCa, unnamed, instanceHello('hello', 'hello-1'));
    expect(out).toMatchObject({
      admitted: false,
      code: 4003,
      reason: expect.stringContaining('join credential required'),
    });
    await waitFor('the control plane to say why', () =>
      cp.proc.output.includes('ignored a client certificate that names no join credential'),
    );
  });
});
