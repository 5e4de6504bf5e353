import { describe, expect, it } from 'vitest';
import { clientCertificate } from './client-certificate.js';

const held = {
  spiffeId: 'spiffe://meshlet.local/svc/hello',
  certChainPem: '-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n',
  notAfterMs: 10_000,
};

describe('clientCertificate', () => {
  it('presents the workload certificate on a wss:// stream while it is valid', () => {
    expect(clientCertificate('wss://cp:8443/v1/stream', held, 9_999)).toEqual({
      cert: held.certChainPem,
      key: held.keyPem,
      spiffeId: held.spiffeId,
    });
  });

  it('presents nothing on plain ws://, without a certificate, or with an expired one (the credential joins alone)', () => {
    expect(clientCertificate('ws://127.0.0.1:8080/v1/stream', held, 0)).toBeUndefined();
    expect(clientCertificate('wss://cp:8443/v1/stream', undefined, 0)).toBeUndefined();
    expect(clientCertificate('wss://cp:8443/v1/stream', held, 10_000)).toBeUndefined();
  });
});
