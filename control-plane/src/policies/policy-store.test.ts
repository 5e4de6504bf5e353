import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolvePolicy } from '@meshlet/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../store/file-store.js';
import { PolicyStore } from './policy-store.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
async function store(): Promise<FileStore> {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-policies-'));
  dirs.push(d);
  const s = new FileStore(d);
  await s.open();
  return s;
}

describe('PolicyStore', () => {
  it('layers API policies over the config file over the defaults, with resource versions', async () => {
    const s = await store();
    const config = { orders: resolvePolicy({ balancer: { kind: 'maglev' } }) };
    const p = new PolicyStore(s, config);
    expect(p.item('orders')).toMatchObject({
      source: 'config',
      resourceVersion: null,
      policy: { balancer: { kind: 'maglev' } },
    });
    expect(p.item('web')).toMatchObject({
      source: 'default',
      resourceVersion: null,
      policy: { balancer: { kind: 'round_robin' } },
    });

    const created = await p.put('orders', { retries: { maxRetries: 5 } }, '0');
    expect(created).toMatchObject({
      ok: true,
      item: { source: 'api', resourceVersion: '1', spec: { retries: { maxRetries: 5 } } },
    });
    // The API policy replaces the config file's whole: unset fields take the defaults, not the file's.
    expect(p.policyOf('orders').balancer.kind).toBe('round_robin');
    expect(p.policyOf('orders').retries.maxRetries).toBe(5);
    expect(p.configured()).toEqual(['orders']);

    expect(await p.put('orders', {}, '0')).toMatchObject({ ok: false, status: 409 });
    expect(await p.put('orders', { retries: { maxRetries: 1 } }, '1')).toMatchObject({
      ok: true,
      item: { resourceVersion: '2' },
    });
    expect(await p.delete('orders', '1')).toMatchObject({ ok: false, status: 409 });
    expect(await p.delete('web', undefined)).toMatchObject({ ok: false, status: 404 });
    expect(await p.delete('orders', '2')).toMatchObject({ ok: true, item: { source: 'config' } });

    // Survives a reopen of the store.
    await p.put('web', { timeouts: { requestMs: 500 } }, undefined);
    await s.close();
    const again = new FileStore(join(dirs[0] as string));
    await again.open();
    expect(new PolicyStore(again, {}).policyOf('web').timeouts.requestMs).toBe(500);
  });

  it('skips a stored policy that no longer validates, falling back to the config file', async () => {
    const s = await store();
    await s.put('policies/orders', { balancer: { kind: 'fastest' } });
    const p = new PolicyStore(s, {});
    expect(p.item('orders').source).toBe('default');
  });

  it('pairs each resourceVersion with the policy of that revision, even while the write is on its way to the disk', async () => {
    const s = await store();
    const p = new PolicyStore(s, {});
    await p.put('orders', { retries: { maxRetries: 1 } }, '0');
    let release = () => {};
    const disk = new Promise<void>((r) => (release = r));
    const put = s.put.bind(s);
    // The value is in the store at once; the write resolves when the disk is done (as a slow fsync).
    s.put = async (key, value) => {
      const written = put(key, value);
      await disk;
      return written;
    };
    const writing = p.put('orders', { retries: { maxRetries: 2 } }, '1');
    const seen = p.item('orders');
    // A client that reads, changes and writes back at this version must be changing what that version holds.
    expect(seen).toMatchObject({ resourceVersion: '2', spec: { retries: { maxRetries: 2 } } });
    expect(seen.policy.retries.maxRetries).toBe(2);
    expect(p.policyOf('orders').retries.maxRetries).toBe(2);
    release();
    expect(await writing).toMatchObject({ ok: true, item: { resourceVersion: '2' } });
  });
});
