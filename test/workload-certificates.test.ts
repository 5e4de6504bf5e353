import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { WorkloadKey } from '@meshlet/agent';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getJson, httpRequest } from './harness/http.js';
import { type ControlPlaneHandle, startDemoApp, withMesh } from './harness/mesh.js';
import { waitFor } from './harness/wait.js';

const ADMIN = 'admin-5d1f0c7b2e9a4c83';
const as = { headers: { authorization: `Bearer ${ADMIN}` } };

interface ServedIdentity {
  spiffeId: string;
  instanceId: string;
  notAfter: string;
  certChainPem: string;
  trustBundlePem: string;
}

/** What the agent's admin `/identity` serves: its certificate as peers see it. */
async function identityOf(adminPort: number): Promise<ServedIdentity | undefined> {
  return ((await getJson(adminPort, '/identity')) as { identity: ServedIdentity | null }).identity ?? undefined;
}

/** The leaf of a served identity, checked against its chain and roots with node:crypto. */
function checkedLeaf(served: ServedIdentity): X509Certificate {
  const split = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const [leaf, issuer] = split(served.certChainPem).map((p) => new X509Certificate(p));
  const [root] = split(served.trustBundlePem).map((p) => new X509Certificate(p));
  if (!leaf || !issuer || !root) throw new Error('the identity lacks a leaf, an issuer or a root');
  expect(leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey)).toBe(true);
  expect(issuer.checkIssued(root) && issuer.verify(root.publicKey)).toBe(true);
  return leaf;
}

describe('workload certificates over the stream', () => {
  const mesh = withMesh();
  let cp: ControlPlaneHandle;

  async function mint(service: string): Promise<string> {
    const r = await httpRequest(cp.port, '/v1/join-credentials', {
      ...as,
      method: 'POST',
      headers: { ...as.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
    });
    expect(r.status).toBe(201);
    return r.json().credential as string;
  }
  const cpMetric = async (line: string): Promise<number> => {
    const text = (await httpRequest(cp.port, '/metrics', as)).body;
    const escaped = line.replace(/[{}"\\]/g, (c) => `\\${c}`);
    return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  beforeAll(async () => {
    cp = await mesh.controlPlane({ auth: { adminToken: ADMIN }, identity: { certificateTtl: '5s' } });
  });

  it('an agent gets a certificate for its own service only', async () => {
    const token = await mint('orders');
    const app = await startDemoApp('orders', 'orders-1');
    const agent = await mesh.agent({ agentId: 'orders-1', cp, joinToken: token, instance: { service: 'orders', app } });
    const served = await waitFor('the orders agent to hold a certificate', () => identityOf(agent.adminPort));
    expect(served).toMatchObject({ spiffeId: 'spiffe://meshlet.local/svc/orders', instanceId: 'orders-1' });
    const leaf = checkedLeaf(served);
    expect(leaf.subjectAltName).toBe('URI:spiffe://meshlet.local/svc/orders');
    // The instance in the CN; the join credential it was issued under in an OU (revoking it cuts the certificate off).
    const credentialId = /^mjc_([0-9a-f]{16})_/.exec(token)?.[1];
    expect(leaf.subject).toBe(
      `CN=spiffe://meshlet.local/svc/orders/instance/orders-1\nOU=meshlet-credential:${credentialId}`,
    );
    // The admin API shows the certificate, never the key that goes with it (nor anywhere else in its answer).
    const raw = (await httpRequest(agent.adminPort, '/identity')).body;
    expect(raw).toContain('BEGIN CERTIFICATE');
    expect(raw).not.toMatch(/PRIVATE KEY|keyPem/);
    expect(await cpMetric('meshlet_cp_certificates_issued_total')).toBeGreaterThanOrEqual(1);
    const listed = (await httpRequest(cp.port, '/v1/agents/orders-1', as)).json();
    expect(listed.certificate).toMatchObject({ spiffeId: 'spiffe://meshlet.local/svc/orders' });
    expect(Date.parse(listed.certificate.notAfter)).toBeGreaterThan(Date.now());
    expect(await cpMetric('meshlet_cp_agent_certificate_expiry_timestamp_seconds{agent="orders-1"}')).toBeGreaterThan(
      Date.now() / 1000,
    );
  });

  it('a credential for orders asking a certificate for payments is refused, counted, and answered naming why', async () => {
    const token = await mint('orders');
    const ws = new WebSocket(cp.streamUrl);
    await once(ws, 'open');
    const messages: Array<{ type: string; code?: string; message?: string; field?: string }> = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocolVersion: 1,
        agentId: 'raw-orders',
        tableVersion: 0,
        joinToken: token,
        instance: { service: 'orders', id: 'raw-orders', host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} },
      }),
    );
    const identity = await waitFor('the identity message', () => messages.find((m) => m.type === 'identity'));
    expect(identity).toEqual({
      // The CA's roots: an agent whose bundle differs (the CA changed) asks anew.
      trustBundlePem: expect.stringContaining('BEGIN CERTIFICATE'),
      type: 'identity',
      spiffeId: 'spiffe://meshlet.local/svc/orders',
      instanceId: 'raw-orders',
      // The credential its certificates will name (an agent holding one that names another renews).
      credentialId: /^mjc_([0-9a-f]{16})_/.exec(token)?.[1],
    });
    const before = await cpMetric('meshlet_cp_certificates_refused_total{reason="forbidden"}');
    const key = await WorkloadKey.generate();
    const csrPem = await key.certificateRequest({
      spiffeId: { trustDomain: 'meshlet.local', service: 'payments' },
      instanceId: 'raw-orders',
    });
    ws.send(JSON.stringify({ type: 'csr', csrPem }));
    const refusal = await waitFor('the refusal', () => messages.find((m) => m.type === 'error'));
    expect(refusal).toMatchObject({ code: 'MESHLET_CSR_IDENTITY_FORBIDDEN', field: 'csrPem' });
    expect(refusal.message).toContain('an agent can get a certificate for its own service only');
    expect(messages.some((m) => m.type === 'certificate')).toBe(false);
    expect(await cpMetric('meshlet_cp_certificates_refused_total{reason="forbidden"}')).toBe(before + 1);
    // The stream stays up: the same sender asking for its own identity is answered.
    const own = await key.certificateRequest({
      spiffeId: { trustDomain: 'meshlet.local', service: 'orders' },
      instanceId: 'raw-orders',
    });
    // The control plane signs at most once a second per stream: ask again while it says too soon.
    const ask = async () => {
      const n = messages.length;
      ws.send(JSON.stringify({ type: 'csr', csrPem: own }));
      return waitFor('an answer', () => messages.length > n && messages[messages.length - 1]);
    };
    await waitFor('a certificate for its own identity', async () => (await ask())?.type === 'certificate', {
      intervalMs: 250,
    });
    ws.close();
  });

  it('a leaf with a 5 s ttl (the shortest allowed) renews several times', async () => {
    const token = await mint('hello');
    const app = await startDemoApp('hello', 'hello-1');
    const agent = await mesh.agent({ agentId: 'hello-1', cp, joinToken: token, instance: { service: 'hello', app } });
    const seen = new Set<string>();
    // An expect inside waitFor's check would be swallowed as "not yet": expired sightings are kept and asserted after.
    const expiredWhenServed: string[] = [];
    await waitFor(
      'four certificates in turn',
      async () => {
        const served = await identityOf(agent.adminPort);
        if (served) {
          // Each one in force is valid now: renewed before it expired.
          if (Date.parse(served.notAfter) <= Date.now() - 1000) expiredWhenServed.push(served.notAfter);
          seen.add(served.certChainPem);
        }
        return seen.size >= 4;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(expiredWhenServed).toEqual([]);
    const metrics = (await httpRequest(agent.adminPort, '/metrics')).body;
    const expiry = Number(/^meshlet_agent_certificate_expiry_timestamp_seconds (\d+)$/m.exec(metrics)?.[1]);
    expect(expiry).toBeGreaterThan(Date.now() / 1000 - 1);
  });

  it('a client-only agent gets one too', async () => {
    const token = await mint('web');
    const client = await mesh.agent({ agentId: 'web-client-1', cp, joinToken: token, service: 'web', outbound: true });
    const served = await waitFor('the client to hold a certificate', () => identityOf(client.adminPort));
    expect(served).toMatchObject({ spiffeId: 'spiffe://meshlet.local/svc/web', instanceId: 'web-client-1' });
    checkedLeaf(served);
  });
});
