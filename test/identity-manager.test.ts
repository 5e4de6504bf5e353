import { createLogger, type Csr, seededRandom, systemClock } from '@meshlet/shared';
import { IdentityManager, type WorkloadCertificate, WorkloadKey } from '@meshlet/agent';

import { CertificateAuthority } from '@meshlet/control-plane';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './harness/wait.js';

// The agent's identity manager against a real CA (in memory), the stream
// replaced by direct calls: what the control plane would answer, it answers.
const log = createLogger('identity-manager', 'silent');
const ORDERS = { type: 'identity' as const, spiffeId: 'spiffe://meshlet.local/svc/orders', instanceId: 'orders-1' };
const managers: IdentityManager[] = [];

afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

async function setUp(
  ttlMs: number,
  answer?: (csr: Csr, ca: CertificateAuthority) => Promise<void> | void,
  agentClock = systemClock,
  dataDir?: string,
  logger = log,
) {
  const ca = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: systemClock, leafLifetimeMs: ttlMs });
  const requests: string[] = [];
  const manager: IdentityManager = new IdentityManager({
    send: (csr) => {
      requests.push(csr.csrPem);
      setImmediate(() => {
        void (async () => {
          if (answer) return answer(csr, ca);
          const issued = await ca.sign(csr.csrPem, { service: 'orders', instanceId: 'orders-1' });
          await manager.onCertificate({
            type: 'certificate',
            certChainPem: issued.certificateChainPem,
            trustBundlePem: ca.trustBundle().join('\n'),
            notAfter: issued.notAfter.getTime(),
          });
        })();
      });
      return true;
    },
    clock: agentClock,
    random: seededRandom(7),
    log: logger,
    retryInitialMs: 100,
    retryMaxMs: 400,
    dataDir,
  });
  managers.push(manager);
  return { ca, manager, requests };
}

describe('IdentityManager', () => {
  it('asks once told its identity, installs the certificate and tells its listeners', async () => {
    const { manager, requests } = await setUp(60_000);
    const seen: WorkloadCertificate[] = [];
    manager.onChange((c) => seen.push(c));
    void manager.onIdentity(ORDERS);
    const cert = await waitFor('a certificate', () => manager.current());
    expect(cert).toMatchObject({ spiffeId: ORDERS.spiffeId, service: 'orders', trustDomain: 'meshlet.local' });
    expect(cert.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(cert.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(cert.notAfterMs).toBeGreaterThan(Date.now() + 50_000);
    expect(seen).toEqual([cert]);
    // A reconnect with a valid certificate asks for nothing (onIdentity resolves once any request was sent).
    manager.onDisconnect();
    await manager.onIdentity(ORDERS);
    expect(requests).toHaveLength(1);
  });

  it('renews at about 70% of the life, with a new key each time', async () => {
    const { manager } = await setUp(3000);
    const seen: { at: number; certificate: WorkloadCertificate }[] = [];
    manager.onChange((certificate) => seen.push({ at: Date.now(), certificate }));
    void manager.onIdentity(ORDERS);
    await waitFor('three certificates', () => seen.length >= 3, { timeoutMs: 10_000 });
    // Each renewal comes between 60% and 80% of the life the certificate had when installed (counted to its
    // whole-second notAfter), plus the time a request takes to be signed: not at expiry, not at once.
    for (let i = 1; i < seen.length; i++) {
      const life = seen[i - 1]!.certificate.notAfterMs - seen[i - 1]!.at;
      const gap = seen[i]!.at - seen[i - 1]!.at;
      expect(gap).toBeGreaterThanOrEqual(0.6 * life - 20);
      expect(gap).toBeLessThanOrEqual(0.8 * life + 300);
    }
    expect(new Set(seen.map((s) => s.certificate.keyPem)).size).toBe(seen.length);
  });

  it('keeps the certificate it holds while a renewal is refused, and retries until one is signed', async () => {
    let refuse = false;
    let refused = 0;
    const { manager } = await setUp(2000, async (csr, ca) => {
      if (refuse && refused < 3) {
        refused += 1;
        manager.onError({
          type: 'error',
          code: 'MESHLET_CERTIFICATE_UNAVAILABLE',
          message: 'not now',
          field: 'csrPem',
        });
        return;
      }
      const issued = await ca.sign(csr.csrPem, { service: 'orders', instanceId: 'orders-1' });
      await manager.onCertificate({
        type: 'certificate',
        certChainPem: issued.certificateChainPem,
        trustBundlePem: ca.trustBundle().join('\n'),
        notAfter: issued.notAfter.getTime(),
      });
    });
    void manager.onIdentity(ORDERS);
    const first = await waitFor('a certificate', () => manager.current());
    refuse = true;
    await waitFor('a refusal', () => refused >= 1);
    expect(manager.current()).toBe(first);
    const renewed = await waitFor('a renewed certificate', () => manager.current() !== first && manager.current());
    expect(refused).toBe(3);
    expect(renewed.notAfterMs).toBeGreaterThanOrEqual(first.notAfterMs);
  });

  it('a certificate for another key is not installed', async () => {
    let answered = 0;
    const { manager } = await setUp(60_000, async (_csr, ca) => {
      answered += 1;
      // A valid certificate of the right identity, but for a key this agent does not hold.

      const other = await WorkloadKey.generate();
      const csrPem = await other.certificateRequest({
        spiffeId: { trustDomain: 'meshlet.local', service: 'orders' },
        instanceId: 'orders-1',
      });
      const issued = await ca.sign(csrPem, { service: 'orders', instanceId: 'orders-1' });
      await manager.onCertificate({
        type: 'certificate',
        certChainPem: issued.certificateChainPem,
        trustBundlePem: ca.trustBundle().join('\n'),
        notAfter: issued.notAfter.getTime(),
      });
    });
    void manager.onIdentity(ORDERS);
    await waitFor('a retry after the refused answer', () => answered >= 2);
    expect(manager.current()).toBeUndefined();
  });

  it('a certificate that does not chain to the trust bundle sent with it is not installed', async () => {
    let answered = 0;
    const other = await CertificateAuthority.open({ source: { kind: 'memory' }, clock: systemClock });
    const { manager } = await setUp(60_000, async (csr, ca) => {
      answered += 1;
      // Signed for this agent's own key and identity, but by another CA than the roots that come with it.
      const issued = await other.sign(csr.csrPem, { service: 'orders', instanceId: 'orders-1' });
      await manager.onCertificate({
        type: 'certificate',
        certChainPem: issued.certificateChainPem,
        trustBundlePem: ca.trustBundle().join('\n'),
        notAfter: issued.notAfter.getTime(),
      });
    });
    void manager.onIdentity(ORDERS);
    await waitFor('a retry after the refused answer', () => answered >= 2);
    expect(manager.current()).toBeUndefined();
  });

  it('a certificate living 60 days is not renewed in a loop (setTimeout overflow past 2^31-1 ms)', async () => {
    const { manager, requests } = await setUp(60 * 86_400_000);
    void manager.onIdentity(ORDERS);
    const cert = await waitFor('a certificate', () => manager.current());
    expect(cert.notAfterMs).toBeGreaterThan(Date.now() + 59 * 86_400_000);
    // An overflowing timer fires after 1 ms: a second request would follow within milliseconds.
    await expect(
      waitFor('a second request', () => requests.length > 1, { timeoutMs: 500, intervalMs: 10 }),
    ).rejects.toThrow(/timed out/);
    expect(requests).toHaveLength(1);
  });

  it('a listener that throws (a bad key for tls.createSecureContext) neither stops the others nor the renewals', async () => {
    const { manager } = await setUp(3000);
    const seen: WorkloadCertificate[] = [];
    manager.onChange(() => {
      throw new Error('bad key');
    });
    manager.onChange((c) => seen.push(c));
    void manager.onIdentity(ORDERS);
    await waitFor('two certificates despite the throwing listener', () => seen.length >= 2, { timeoutMs: 10_000 });
    expect(manager.current()).toBe(seen[seen.length - 1]);
  });

  it('after the control plane changed its CA (a restart with a new one), a reconnected agent asks for a new certificate', async () => {
    const restarted: { ca?: CertificateAuthority } = {};
    const lines: Array<{ level: string; msg: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const { manager, requests } = await setUp(
      60_000,
      async (csr, first) => {
        const signer = restarted.ca ?? first;
        const issued = await signer.sign(csr.csrPem, { service: 'orders', instanceId: 'orders-1' });
        await manager.onCertificate({
          type: 'certificate',
          certChainPem: issued.certificateChainPem,
          trustBundlePem: signer.trustBundle().join('\n'),
          notAfter: issued.notAfter.getTime(),
        });
      },
      systemClock,
      undefined,
      createLogger('identity-manager', 'debug', sink),
    );
    void manager.onIdentity(ORDERS);
    const first = await waitFor('a certificate', () => manager.current());
    // The same bundle again (text formatted otherwise): nothing to ask.
    manager.onDisconnect();
    await manager.onIdentity({ ...ORDERS, trustBundlePem: `\n${first.trustBundlePem}\n\n` });
    expect(requests).toHaveLength(1);
    // The control plane restarts with a new CA: its identity message names the new roots.
    const ca = await CertificateAuthority.open({
      source: { kind: 'memory' },
      clock: systemClock,
      leafLifetimeMs: 60_000,
    });
    restarted.ca = ca;
    manager.onDisconnect();
    await manager.onIdentity({ ...ORDERS, trustBundlePem: ca.trustBundle().join('\n') });
    expect(requests).toHaveLength(2);
    const renewed = await waitFor(
      'a certificate of the new CA',
      () => manager.current() !== first && manager.current(),
    );
    expect(renewed.trustBundlePem).toBe(ca.trustBundle().join('\n'));
    // Accepted, never quietly: a bundle sharing no root with the one held is logged as a trust break.
    expect(lines.filter((l) => l.msg.startsWith('TRUST BREAK'))).toHaveLength(1);
  });

  it('an agent whose clock is 5 minutes behind the control plane installs its new certificate', async () => {
    const { manager } = await setUp(3_600_000, undefined, () => Date.now() - 300_000);
    void manager.onIdentity(ORDERS);
    const cert = await waitFor('a certificate despite the clock skew', () => manager.current(), { timeoutMs: 5000 });
    expect(cert.notAfterMs).toBeGreaterThan(Date.now());
  });

  it('an agent restarted while the control plane is away serves its persisted certificate (static stability)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-identity-'));
    try {
      const { manager } = await setUp(3_600_000, undefined, systemClock, dir);
      void manager.onIdentity(ORDERS);
      const cert = await waitFor('a certificate', () => manager.current());
      const file = join(dir, 'workload-identity.json');
      const kept = await waitFor('the persisted file', () => readFile(file, 'utf8').catch(() => undefined));
      expect(kept).toContain('PRIVATE KEY');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      manager.stop();
      // A new run, no stream, no identity message: the certificate is there from the start.
      const restarted = new IdentityManager({
        send: () => false,
        clock: systemClock,
        random: seededRandom(1),
        log,
        dataDir: dir,
      });
      managers.push(restarted);
      expect(restarted.current()).toEqual(cert);
      // An expired one is not served: the agent asks the control plane as on a first start.
      const later = new IdentityManager({
        send: () => false,
        clock: () => cert.notAfterMs + 1000,
        random: seededRandom(1),
        log,
        dataDir: dir,
      });
      managers.push(later);
      expect(later.current()).toBeUndefined();
      // A file whose key is not the leaf's (tampered, or half another identity's) is not served either.
      const other = await WorkloadKey.generate();
      const parsed = JSON.parse(kept);
      parsed.certificate.keyPem = await other.privateKeyPem();
      await writeFile(file, JSON.stringify(parsed));
      const tampered = new IdentityManager({
        send: () => false,
        clock: systemClock,
        random: seededRandom(1),
        log,
        dataDir: dir,
      });
      managers.push(tampered);
      expect(tampered.current()).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes in the table trust bundle, and renews soon when the mesh signs with another issuer (a root rotation)', async () => {
    // 24 h certificates: only the rotation can make this agent ask again within the test.
    const { ca, manager, requests } = await setUp(24 * 3600_000);
    void manager.onIdentity(ORDERS);
    const first = await waitFor('a certificate', () => manager.current());
    const trust = (generation: number, activeIssuer: string) => ({
      generation,
      rootsPem: ca.trustBundle().join('\n'),
      issuersPem: ca.knownIssuers().join('\n'),
      activeIssuer,
    });
    // The issuer it holds is the active one: nothing to renew; the issuers become known intermediates.
    expect(manager.onTrust(trust(1, manager.certificateIssuer() as string))).toBeUndefined();
    expect(manager.current()?.knownIssuersPem).toContain('BEGIN CERTIFICATE');
    expect(requests).toHaveLength(1);
    // The table names another active issuer: a renewal within about 2 s, not at 70% of a day.
    expect(manager.onTrust(trust(2, 'f'.repeat(32)))).toBeUndefined();
    await waitFor('a renewal', () => (manager.current()?.certChainPem !== first.certChainPem ? true : undefined), {
      timeoutMs: 5000,
    });
    expect(requests).toHaveLength(2);
    // A bundle that cannot be parsed is refused (the table is NACKed) and the one held stays.
    expect(manager.onTrust({ ...trust(3, 'f'.repeat(32)), rootsPem: 'not a certificate' })).toContain('trust.rootsPem');
    expect(manager.current()?.trustBundlePem).toContain('BEGIN CERTIFICATE');
  });

  it('asks for a new certificate when the control plane certifies under another join credential than the one it holds', async () => {
    const { manager, requests } = await setUp(24 * 3600_000);
    void manager.onIdentity(ORDERS);
    await waitFor('a certificate', () => manager.current());
    // This CA writes no credential into the leaf; a control plane that names one makes the agent renew at once.
    manager.onDisconnect();
    await manager.onIdentity({ ...ORDERS, credentialId: '0123456789abcdef' });
    expect(requests).toHaveLength(2);
  });
});
