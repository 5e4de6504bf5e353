import { killAll } from '@meshlet/test-harness/process';
import { type RedisInstance, startRedis } from '@meshlet/test-harness/redis';
import { waitFor } from '@meshlet/test-harness/wait';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisHealthCheck, roleResult } from './redis-health-check.js';

// A real Redis primary and replica (test/harness/redis.ts).
let primary: RedisInstance;
let replica: RedisInstance;

beforeAll(async () => {
  primary = await startRedis();
  replica = await startRedis({ replicaOf: { host: primary.host, port: primary.port } });
}, 60_000);

afterAll(async () => {
  await replica?.cleanup();
  await primary?.cleanup();
  await killAll();
});

const check = (r: RedisInstance) => new RedisHealthCheck({ host: r.host, port: r.port }, 2_000);

describe('RedisHealthCheck', { timeout: 60_000 }, () => {
  it('says primary and replica with their offsets; a replica whose link is down stays healthy and says so', async () => {
    const p = check(primary);
    const s = check(replica);
    try {
      await primary.command('SET', 'k', 'x'.repeat(1000));
      const master = await p.probe();
      expect(master).toMatchObject({ ok: true, role: 'primary' });
      expect(master.detail).toContain('with 1 replica(s)');
      expect(master.replicationOffset).toBeGreaterThan(0);
      const copy = await waitFor('the replica at the offset', async () => {
        const r = await s.probe();
        return r.replicationOffset === master.replicationOffset && r;
      });
      expect(copy).toMatchObject({ ok: true, role: 'replica' });
      expect(copy.detail).toContain('link up');

      await primary.kill();
      const orphan = await waitFor('the replica seeing its link down', async () => {
        const r = await s.probe();
        return !r.detail.includes('link up') && r;
      });
      expect(orphan).toMatchObject({ ok: true, role: 'replica' });
      expect(orphan.detail).toMatch(/link (connect|connecting|sync)/);
      expect((await p.probe()).ok).toBe(false);

      await replica.command('REPLICAOF', 'NO', 'ONE');
      expect(await s.probe()).toMatchObject({ ok: true, role: 'primary' });
      // The primary back: the check connects again.
      await primary.start();
      expect(await p.probe()).toMatchObject({ ok: true, role: 'primary' });
    } finally {
      p.close();
      s.close();
    }
  });

  it('fails on a Sentinel and on an unknown role', () => {
    expect(roleResult(['sentinel', ['mymaster']], 'redis x')).toEqual({
      ok: false,
      detail: 'redis x: is a Sentinel, not a data server',
    });
    expect(roleResult(['slave', '127.0.0.1', 6379, 'connecting', -1], 'redis x')).toMatchObject({
      ok: true,
      role: 'replica',
      replicationOffset: undefined,
    });
    expect(roleResult('OK', 'redis x').ok).toBe(false);
  });

  it('fails fast when nothing listens', async () => {
    const c = new RedisHealthCheck({ host: '127.0.0.1', port: 1 }, 500);
    const r = await c.probe();
    c.close();
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('ECONNREFUSED');
  });
});
