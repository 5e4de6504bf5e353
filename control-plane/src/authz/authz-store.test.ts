import { Writable } from 'node:stream';
import { createLogger, resolveAuthzPolicy } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { createMetrics } from '../metrics.js';
import { AuthzStore, INVALID_STORED_POLICY_RULE } from './authz-store.js';

/** A real logger whose JSON lines are kept, parsed. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { root: createLogger('meshlet-control-plane', 'info', sink), lines };
}

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

  it('a stored policy that no longer validates is replaced by deny-all, logged at error, counted, and shown invalid: never allow-all', async () => {
    const s = new MemoryStore();
    const metrics = createMetrics();
    const captured = capturedLogger();
    const config = { users: resolveAuthzPolicy({ rules: [{ from: ['*'] }] }) };
    const a = new AuthzStore(s, config, { log: captured.root, metrics });
    await s.put('authz/orders', { rules: [{ from: ['web'] }] });
    await s.put('authz/users', { mode: 'fail-open' });
    a.reload();
    expect(a.configured()).toEqual(['orders', 'users']);
    expect(a.policyOf('users')).toEqual({
      mode: 'enforce',
      rules: [{ name: INVALID_STORED_POLICY_RULE, action: 'deny' }],
    });
    expect(a.item('users')).toMatchObject({ source: 'api', invalid: expect.stringMatching(/mode/) });
    expect(a.item('orders').invalid).toBeUndefined();
    expect((await metrics.authzInvalidPolicies.get()).values[0]?.value).toBe(1);
    expect(captured.lines.filter((l) => l.level === 50).map((l) => l.service)).toEqual(['users']);
    a.reload();
    expect(captured.lines.filter((l) => l.level === 50)).toHaveLength(1);
    await a.put('users', { rules: [{ from: ['web'] }] }, undefined);
    expect(a.item('users').invalid).toBeUndefined();
    expect((await metrics.authzInvalidPolicies.get()).values[0]?.value).toBe(0);
  });
});
