import { resolveAuthzPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { AuthzStore } from './authz-store.js';

describe('AuthzStore', () => {
  it('layers API policies over the config file; a service with neither has none', async () => {
    const config = { orders: resolveAuthzPolicy({ rules: [{ from: ['web'] }] }) };
    const s = new MemoryStore();
    const a = new AuthzStore(s, config);
    expect(a.item('orders')).toMatchObject({ source: 'config', resourceVersion: null, policy: { mode: 'enforce' } });
    expect(a.item('web')).toEqual({ service: 'web', source: 'none', resourceVersion: null, policy: null });
    expect(a.policyOf('web')).toBeUndefined();

    const created = await a.put('orders', { mode: 'audit', rules: [{ from: ['batch'] }] }, '0');
    expect(created).toMatchObject({ ok: true, item: { source: 'api', resourceVersion: '1' } });
    expect(a.policyOf('orders')).toMatchObject({ mode: 'audit', rules: [{ action: 'allow', from: ['batch'] }] });
    expect(a.configured()).toEqual(['orders']);

    expect(await a.put('orders', { rules: [{ from: ['ops'] }] }, '0')).toMatchObject({ ok: false, status: 409 });
    expect(await a.delete('web', undefined)).toMatchObject({ ok: false, status: 404 });
    expect(await a.delete('orders', '1')).toMatchObject({ ok: true, item: { source: 'config' } });
    expect(a.policyOf('orders')?.rules[0]?.from).toEqual(['web']);
  });

  it('refuses an invalid policy before writing, naming the field', async () => {
    const s = new MemoryStore();
    const a = new AuthzStore(s, {});
    await expect(a.put('orders', { rules: [{ methods: ['get'] }] }, undefined)).rejects.toThrow(/rules\.0\.methods\.0/);
    expect(s.data.size).toBe(0);
  });

  it('follows writes made under it (another replica, a restore), skipping one that no longer validates', async () => {
    const s = new MemoryStore();
    const a = new AuthzStore(s, {});
    await s.put('authz/orders', { rules: [{ from: ['web'] }] });
    await s.put('authz/users', { mode: 'fail-open' });
    a.reload();
    expect(a.configured()).toEqual(['orders']);
    expect(a.item('users').source).toBe('none');
  });
});
