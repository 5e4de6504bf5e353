import { createLogger } from '@meshlet/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { StaticWorkloadIdentity } from '../identity/static-workload-identity.js';
import type { WorkloadCertificate } from '../identity/workload-identity.js';
import { MtlsConnector } from './mtls-connector.js';
import { OriginPools } from './origin-pools.js';
import { until } from './test-support/loopback.js';

// The caller's side of an expiring certificate: the keep-alive connections of
// the mTLS pools carry the agent's own certificate, so when it expires they
// go with it, and the next call says why it cannot be made instead of riding
// a connection its peer would no longer accept.

describe('OriginPools when the agent’s own certificate expires', () => {
  const timeouts = { connectMs: 1_000, idleMs: 10_000 };
  const certificate = (notAfterMs: number) => ({ notAfterMs, trustDomain: 'meshlet.local' }) as WorkloadCertificate;
  let pools: OriginPools | undefined;
  let connector: MtlsConnector | undefined;
  afterEach(async () => {
    await pools?.close();
    connector?.close();
  });

  function start(identity: StaticWorkloadIdentity) {
    connector = new MtlsConnector({ identity, log: createLogger('test', 'silent'), clock: Date.now });
    pools = new OriginPools(connector);
    return pools;
  }

  it('drops the pooled mTLS connections when the certificate expires, keeps the plaintext ones', async () => {
    const p = start(new StaticWorkloadIdentity(certificate(Date.now() + 150)));
    const secure = p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true });
    const plain = p.get('127.0.0.1', 2, timeouts, { service: 'legacy', mtls: false });
    expect(p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true })).toBe(secure);
    await until(() => secure.closed, 'the mTLS pool to close at the expiry');
    expect(plain.closed).toBe(false);
    expect(p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true })).not.toBe(secure);
  });

  it('drops them when the identity changes to an already expired certificate', () => {
    const identity = new StaticWorkloadIdentity(certificate(Date.now() + 60_000));
    const p = start(identity);
    const secure = p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true });
    identity.set(certificate(Date.now() - 1));
    expect(secure.closed).toBe(true);
  });

  it('retires the mTLS pools when the certificate is renewed, so the callee never cuts them at the old one’s expiry', () => {
    const identity = new StaticWorkloadIdentity(certificate(Date.now() + 60_000));
    const p = start(identity);
    const secure = p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true });
    const plain = p.get('127.0.0.1', 2, timeouts, { service: 'legacy', mtls: false });
    identity.set(certificate(Date.now() + 120_000));
    expect(secure.closed).toBe(true);
    expect(plain.closed).toBe(false);
    const renewed = p.get('127.0.0.1', 1, timeouts, { service: 'hello', mtls: true });
    expect(renewed).not.toBe(secure);
    expect(renewed.closed).toBe(false);
  });
});
