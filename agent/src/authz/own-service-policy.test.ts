import { resolveAuthzPolicy, type ServiceRoutes } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { ownServicePolicy } from './own-service-policy.js';

const routes = (authz?: unknown): ServiceRoutes =>
  ({ endpoints: [], ...(authz ? { authz: resolveAuthzPolicy(authz) } : {}) }) as unknown as ServiceRoutes;

describe('ownServicePolicy', () => {
  it('"no table yet" and "no entry for the own service" are unknown, never "no policy" (which allows everyone)', () => {
    expect(ownServicePolicy(undefined, 'orders')).toBe('unknown');
    expect(ownServicePolicy({ web: routes() }, 'orders')).toBe('unknown');
    expect(ownServicePolicy({ orders: routes() }, 'orders')).toBeUndefined();
    expect(ownServicePolicy({ orders: routes({ rules: [{ from: ['web'] }] }) }, 'orders')).toMatchObject({
      rules: [{ from: ['web'] }],
    });
  });
});
