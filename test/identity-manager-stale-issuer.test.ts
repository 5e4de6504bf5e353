import { createLogger, type Csr, seededRandom, systemClock, type TrustBundle } from '@meshlet/shared';
import { IdentityManager } from '@meshlet/agent';
import { CertificateAuthority } from '@meshlet/control-plane';
import { certificateFingerprint } from '@meshlet/shared/identity';
import { afterEach, expect, it } from 'vitest';
import { waitFor } from './harness/wait.js';

// Regression: in a root rotation on replicas, a follower relays the leader's
// table (new active issuer) a moment before it takes in the new issuer from
// the store, and may sign the renewal this table caused with the old issuer.
// The agent then held a certificate the rotation waits on forever (no later
// table says the issuer changed), until its normal renewal hours later.

const log = createLogger('identity-manager', 'silent');
const ORDERS = { type: 'identity' as const, spiffeId: 'spiffe://meshlet.local/svc/orders', instanceId: 'orders-1' };
const managers: IdentityManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.stop();
});

const issuerOf = (chainPem: string): string =>
  certificateFingerprint(
    (chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])[1] as string,
  );

it('asks again when a renewal comes from another issuer than the table says signs now, and keeps the one that does', async () => {
  const open = () => CertificateAuthority.open({ source: { kind: 'memory' }, clock: systemClock });
  const [before, after] = [await open(), await open()];
  // The bundle of the switching-issuer step: both roots and issuers, the new issuer active.
  const trust: TrustBundle = {
    generation: 2,
    rootsPem: [...before.trustBundle(), ...after.trustBundle()].join('\n') + '\n',
    issuersPem: [...before.knownIssuers(), ...after.knownIssuers()].join('\n') + '\n',
    activeIssuer: after.activeIssuerFingerprint,
  };
  // The replica answering signs the first request with the old issuer (it lags), later ones with the new.
  const requests: Csr[] = [];
  const manager: IdentityManager = new IdentityManager({
    send: (csr) => {
      requests.push(csr);
      const ca = requests.length === 1 ? before : after;
      setImmediate(() => {
        void (async () => {
          const issued = await ca.sign(csr.csrPem, { service: 'orders', instanceId: 'orders-1' });
          await manager.onCertificate({
            type: 'certificate',
            certChainPem: issued.certificateChainPem,
            trustBundlePem: trust.rootsPem,
            notAfter: issued.notAfter.getTime(),
          });
        })();
      });
      return true;
    },
    clock: systemClock,
    random: seededRandom(7),
    log,
    retryInitialMs: 100,
    retryMaxMs: 400,
  });
  managers.push(manager);
  const installed: string[] = [];
  manager.onChange((c) => installed.push(issuerOf(c.certChainPem)));
  expect(manager.onTrust(trust)).toBeUndefined();
  await manager.onIdentity({ ...ORDERS, trustBundlePem: trust.rootsPem });

  const held = await waitFor(
    'a certificate from the active issuer',
    () => {
      const c = manager.current();
      return c !== undefined && issuerOf(c.certChainPem) === trust.activeIssuer ? c : undefined;
    },
    { timeoutMs: 5_000 },
  );
  expect(requests).toHaveLength(2);
  expect(manager.certificateIssuer()).toBe(after.activeIssuerFingerprint);
  expect(held.notAfterMs).toBeGreaterThan(Date.now() + 3_600_000);
  // Served in the meantime: the old issuer's certificate was installed, not refused (the bundle holds both roots).
  expect(installed).toEqual([before.activeIssuerFingerprint, after.activeIssuerFingerprint]);
});
