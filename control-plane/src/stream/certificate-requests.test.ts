import { createLogger, type Certificate, type ErrorMessage, type Identity } from '@meshlet/shared';
import { x509 } from '@meshlet/shared/identity';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../identity/certificate-authority.js';
import { makeRequest } from '../identity/test-support/requests.js';
import { createMetrics } from '../metrics.js';
import { CertificateRequests, grantOf, type WorkloadGrant } from './certificate-requests.js';
import type { Logger } from '@meshlet/shared';

const log = createLogger('certificate-requests', 'silent');

async function setUp(grant: WorkloadGrant | undefined) {
  let now = Date.now();
  const clock = () => now;
  const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock });
  const metrics = createMetrics();
  const sent: Array<Certificate | ErrorMessage | Identity> = [];
  const requests = new CertificateRequests({ issuer: ca, metrics, log, clock }, 'agent-1', grant, (m) => sent.push(m));
  const count = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values.map((v) => [v.labels, v.value]);
  return { ca, requests, sent, count, advance: (ms: number) => (now += ms) };
}

describe('grantOf', () => {
  it("takes the credential's service, the hello's instance id, or a client-only agent's agent id", () => {
    const hello = { agentId: 'a-1', instance: { service: 'orders', id: 'orders-1' } };
    expect(grantOf(hello, 'orders')).toEqual({ service: 'orders', instanceId: 'orders-1' });
    expect(grantOf({ agentId: 'client-1' }, 'checkout')).toEqual({ service: 'checkout', instanceId: 'client-1' });
    expect(grantOf(hello, undefined)).toEqual({ service: 'orders', instanceId: 'orders-1' });
    expect(grantOf({ agentId: 'client-1' }, undefined)).toBeUndefined();
    // The shared token: the hello's own word (a client-only agent names its service).
    expect(grantOf({ agentId: 'client-1', service: 'web' }, undefined)).toEqual({
      service: 'web',
      instanceId: 'client-1',
    });
  });
});

describe('CertificateRequests', () => {
  it('tells the agent its identity and signs its request into a leaf, the chain and the bundle', async () => {
    const { ca, requests, sent, count } = await setUp({ service: 'orders', instanceId: 'orders-1' });
    expect(requests.identity()).toEqual({
      type: 'identity',
      spiffeId: 'spiffe://meshlet.local/svc/orders',
      instanceId: 'orders-1',
      // The CA's roots: an agent holding a certificate of another CA (a restarted control plane's) asks anew.
      trustBundlePem: ca.trustBundle().join('\n') + '\n',
    });
    await requests.request((await makeRequest()).pem);
    const answer = sent[0] as Certificate;
    expect(answer.type).toBe('certificate');
    const leaf = new x509.X509Certificate(answer.certChainPem);
    expect(leaf.subject).toBe('CN=spiffe://meshlet.local/svc/orders/instance/orders-1');
    expect(answer.notAfter).toBe(leaf.notAfter.getTime());
    expect(answer.trustBundlePem).toBe(ca.trustBundle().join('\n') + '\n');
    expect(await count('meshlet_cp_certificates_issued_total')).toEqual([[{}, 1]]);
    expect(await count('meshlet_cp_agent_certificate_expiry_timestamp_seconds')).toEqual([
      [{ agent: 'agent-1' }, answer.notAfter / 1000],
    ]);
    requests.close(true);
    expect(await count('meshlet_cp_agent_certificate_expiry_timestamp_seconds')).toEqual([]);
  });

  it("a request for another service than the credential's is refused, counted, and answered naming why", async () => {
    const { requests, sent, count } = await setUp({ service: 'orders', instanceId: 'orders-1' });
    await requests.request((await makeRequest({ service: 'payments' })).pem);
    expect(sent).toEqual([
      expect.objectContaining({ type: 'error', code: 'MESHLET_CSR_IDENTITY_FORBIDDEN', field: 'csrPem' }),
    ]);
    expect((sent[0] as ErrorMessage).message).toContain('spiffe://meshlet.local/svc/orders');
    expect(await count('meshlet_cp_certificates_refused_total')).toEqual([[{ reason: 'forbidden' }, 1]]);
  });

  it('a request naming another instance than the one admitted is refused', async () => {
    const { requests, sent } = await setUp({ service: 'orders', instanceId: 'orders-1' });
    await requests.request((await makeRequest({ instanceId: 'orders-2' })).pem);
    expect(sent).toEqual([expect.objectContaining({ code: 'MESHLET_CSR_IDENTITY_FORBIDDEN' })]);
  });

  it('a client-only agent admitted without a credential is told no identity, and its request is refused', async () => {
    const { requests, sent, count } = await setUp(undefined);
    expect(requests.identity()).toBeUndefined();
    await requests.request((await makeRequest()).pem);
    expect(sent).toEqual([expect.objectContaining({ code: 'MESHLET_CERTIFICATE_UNAVAILABLE', field: 'csrPem' })]);
    expect((sent[0] as ErrorMessage).message).toContain('meshctl token create --service');
    expect(await count('meshlet_cp_certificates_refused_total')).toEqual([[{ reason: 'no_identity' }, 1]]);
  });

  it('a stream that asks in a loop is refused: one request at a time, at most one a second', async () => {
    const { requests, sent, count, advance } = await setUp({ service: 'orders', instanceId: 'orders-1' });
    const pem = (await makeRequest()).pem;
    await Promise.all([requests.request(pem), requests.request(pem)]);
    await requests.request(pem);
    advance(1000);
    await requests.request(pem);
    expect(sent.map((m) => (m.type === 'error' ? m.code : m.type))).toEqual([
      'MESHLET_CERTIFICATE_UNAVAILABLE',
      'certificate',
      'MESHLET_CERTIFICATE_UNAVAILABLE',
      'certificate',
    ]);
    expect(await count('meshlet_cp_certificates_refused_total')).toEqual([
      [{ reason: 'busy' }, 1],
      [{ reason: 'too_soon' }, 1],
    ]);
  });

  it('a stream that authenticated with a certificate of its grant holds that identity before any request (no second process gets it)', async () => {
    const { ca } = await setUp(undefined);
    const grant = { service: 'orders', instanceId: 'orders-1' };
    const ctx = { issuer: ca, metrics: createMetrics(), log, clock: Date.now };
    expect(new CertificateRequests(ctx, 'a-1', grant, () => undefined, true).certified).toEqual(grant);
    expect(new CertificateRequests(ctx, 'a-1', grant, () => undefined).certified).toBeUndefined();
  });

  it('an instance already certified for another connected agent is refused to a second one (two processes, one identity)', async () => {
    const { ca, sent, count } = await setUp(undefined);
    const metrics = createMetrics();
    let now = Date.now();
    const clock = () => now;
    const streams = new Map<string, CertificateRequests>();
    // As the session does: another connected agent already certified for the grant holds it.
    const holderOf = (agentId: string) => (grant: WorkloadGrant) =>
      [...streams].find(
        ([id, s]) =>
          id !== agentId && s.certified?.service === grant.service && s.certified.instanceId === grant.instanceId,
      )?.[0];
    const stream = (agentId: string, grant: WorkloadGrant) => {
      const s = new CertificateRequests(
        { issuer: ca, metrics, log, clock, holderOf: holderOf(agentId) },
        agentId,
        grant,
        (m) => sent.push(m),
      );
      streams.set(agentId, s);
      return s;
    };
    const first = stream('a-1', { service: 'orders', instanceId: 'orders-1' });
    // (b) a client-only agent whose agent id is a real instance's id of the same service.
    const clientOnly = stream('orders-1', grantOf({ agentId: 'orders-1' }, 'orders')!);
    await first.request((await makeRequest()).pem);
    await clientOnly.request((await makeRequest()).pem);
    expect(sent.map((m) => (m.type === 'error' ? m.code : m.type))).toEqual([
      'certificate',
      'MESHLET_CSR_IDENTITY_FORBIDDEN',
    ]);
    expect((sent[1] as ErrorMessage).message).toContain('already certified for connected agent a-1');
    expect((await metrics.registry.getSingleMetric('meshlet_cp_certificates_refused_total')?.get())?.values).toEqual([
      expect.objectContaining({ labels: { reason: 'duplicate' }, value: 1 }),
    ]);
    // The first keeps its identity: its renewal is signed.
    now += 1000;
    await first.request((await makeRequest()).pem);
    expect(sent[2]?.type).toBe('certificate');
    void count;
  });

  it('many agents asking at once are throttled control-plane-wide (50/s, burst 100), refusals logged once per agent per 10 s', async () => {
    const { ca } = await setUp(undefined);
    const metrics = createMetrics();
    const now = Date.now();
    const clock = () => now;
    const warned: unknown[] = [];
    const quiet = () => undefined;
    const capture = {
      warn: (o: unknown) => warned.push(o),
      info: quiet,
      error: quiet,
      debug: quiet,
    } as unknown as Logger;
    const sent: Array<Certificate | ErrorMessage | Identity> = [];
    // Four services, none over its own share (25/s, burst 50): the control-plane-wide budget is what refuses.
    const services = ['orders', 'users', 'carts', 'stock'];
    const pems = await Promise.all(services.map(async (service) => (await makeRequest({ service })).pem));
    const streams = Array.from(
      { length: 101 },
      (_, i) =>
        new CertificateRequests(
          { issuer: ca, metrics, log: capture, clock },
          `a-${i}`,
          { service: services[i % 4] as string, instanceId: 'orders-1' },
          (m) => sent.push(m),
        ),
    );
    for (const [i, s] of streams.entries()) await s.request(pems[i % 4] as string);
    const pem = pems[100 % 4] as string;
    expect(sent.filter((m) => m.type === 'certificate')).toHaveLength(100);
    expect(sent[100]).toMatchObject({ type: 'error', code: 'MESHLET_CERTIFICATE_UNAVAILABLE' });
    expect((sent[100] as ErrorMessage).message).toContain('at most 50 requests a second across all agents');
    // The last agent asks again and again: counted each time, logged once.
    const last = streams[100]!;
    for (let i = 0; i < 5; i++) await last.request(pem);
    expect(warned).toHaveLength(1);
    expect((await metrics.registry.getSingleMetric('meshlet_cp_certificates_refused_total')?.get())?.values).toEqual([
      expect.objectContaining({ labels: { reason: 'throttled' }, value: 1 }),
      expect.objectContaining({ labels: { reason: 'too_soon' }, value: 5 }),
    ]);
  });

  it('one service gets at most half the budget (25/s, burst 50): the holders of one stolen credential cannot starve the others', async () => {
    const { ca } = await setUp(undefined);
    const metrics = createMetrics();
    const clock = () => 1_000_000;
    const sent: Array<Certificate | ErrorMessage | Identity> = [];
    const request = (service: string, i: number) =>
      new CertificateRequests(
        { issuer: ca, metrics, log, clock },
        `${service}-${i}`,
        { service, instanceId: 'orders-1' },
        (m) => sent.push(m),
      );
    const evil = (await makeRequest({ service: 'orders' })).pem;
    for (let i = 0; i < 60; i++) await request('orders', i).request(evil);
    expect(sent.filter((m) => m.type === 'certificate')).toHaveLength(50);
    expect((sent[50] as ErrorMessage).message).toContain('25 for one service');
    // Another service still renews.
    await request('users', 0).request((await makeRequest({ service: 'users' })).pem);
    expect(sent.at(-1)?.type).toBe('certificate');
  });

  it('a request that cannot be signed takes nothing from the budget', async () => {
    const { ca } = await setUp(undefined);
    const metrics = createMetrics();
    const clock = () => 1_000_000;
    const sent: Array<Certificate | ErrorMessage | Identity> = [];
    const forged = (await makeRequest({ service: 'payments' })).pem;
    for (let i = 0; i < 120; i++)
      await new CertificateRequests(
        { issuer: ca, metrics, log, clock },
        `x-${i}`,
        { service: 'orders', instanceId: 'orders-1' },
        (m) => sent.push(m),
      ).request(forged);
    expect(sent.every((m) => m.type === 'error' && m.code === 'MESHLET_CSR_IDENTITY_FORBIDDEN')).toBe(true);
    // The budget is whole: a good request of the same service is signed.
    await new CertificateRequests(
      { issuer: ca, metrics, log, clock },
      'good',
      { service: 'orders', instanceId: 'orders-1' },
      (m) => sent.push(m),
    ).request((await makeRequest()).pem);
    expect(sent.at(-1)?.type).toBe('certificate');
  });
});
