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
});
