import { type AuthzPolicy, ControlPlaneConfig, loadConfig } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { checkSecurity } from './check-security.js';

describe('checkSecurity', () => {
  it("refuses a config file's authorization policy with a path that is not normalized or a malformed SPIFFE id, naming the field", () => {
    const { config } = loadConfig(ControlPlaneConfig, { argv: [], env: {} });
    const orders: AuthzPolicy = {
      mode: 'enforce',
      rules: [
        { action: 'allow', paths: ['/api/', '/public/../admin'] },
        { action: 'allow', from: ['spiffe://meshlet.local/web'] },
      ],
    };
    expect(checkSecurity({ ...config, authz: { orders } }).map((i) => i.path)).toEqual([
      'authz.orders.rules.0.paths.1',
      'authz.orders.rules.1.from.0',
    ]);
    expect(checkSecurity(config)).toEqual([]);
  });

  it('a control plane beyond loopback without TLS is refused, naming tls.certFile and the opt-out; with TLS or the opt-out it is not', () => {
    const env = { MESHLET_AUTH_ADMIN_TOKEN: '9f86d081884c7d659a2feaa0c55ad015' };
    const { config } = loadConfig(ControlPlaneConfig, { argv: ['--listen.host', '0.0.0.0'], env });
    const issues = checkSecurity(config);
    expect(issues).toEqual([
      {
        path: 'tls.certFile',
        problem: expect.stringContaining('is required when listen.host is 0.0.0.0'),
        fix: expect.stringContaining('tls.allowPlaintextRemote: true'),
      },
    ]);
    expect(checkSecurity({ ...config, tls: { ...config.tls, allowPlaintextRemote: true } })).toEqual([]);
    expect(checkSecurity({ ...config, tls: { ...config.tls, certFile: 'c.pem', keyFile: 'k.pem' } })).toEqual([]);
    for (const host of ['127.0.0.1', 'localhost', '::1'])
      expect(checkSecurity({ ...config, listen: { ...config.listen, host } })).toEqual([]);
  });
});
