import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { type PostgresInstance, startPostgresPrimary, startPostgresStandby } from '@meshlet/test-harness/postgres';
import { killAll } from '@meshlet/test-harness/process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresHealthCheck } from './postgres-health-check.js';

// A real PostgreSQL 15 primary with a streaming standby (test/harness/postgres.ts), password authentication on.
const PASSWORD = 'check-secret-7f3a';
let primary: PostgresInstance;
let standby: PostgresInstance;

beforeAll(async () => {
  primary = await startPostgresPrimary({ password: PASSWORD });
  standby = await startPostgresStandby(primary, { name: 'standby1' });
}, 120_000);

afterAll(async () => {
  await standby?.cleanup();
  await primary?.cleanup();
  await killAll();
});

const check = (pg: PostgresInstance, password: string | undefined = PASSWORD, timeoutMs = 3_000) =>
  new PostgresHealthCheck(
    { host: pg.host, port: pg.port, user: 'postgres', database: 'postgres', password },
    timeoutMs,
  );

describe('PostgresHealthCheck', { timeout: 60_000 }, () => {
  it('says primary with its WAL position, replica with the position it received, over one kept connection', async () => {
    const p = check(primary);
    const s = check(standby);
    try {
      const first = await p.probe();
      expect(first).toMatchObject({ ok: true, role: 'primary' });
      expect(first.replicationOffset).toBeGreaterThan(0);
      await primary.query('CREATE TABLE IF NOT EXISTS t (n int)');
      await primary.query('INSERT INTO t SELECT generate_series(1, 1000)');
      const second = await p.probe();
      expect(second.replicationOffset).toBeGreaterThan(first.replicationOffset as number);
      const replica = await s.probe();
      expect(replica).toMatchObject({ ok: true, role: 'replica' });
      expect(replica.detail).toContain('in recovery (replica)');
      expect(replica.replicationOffset).toBeGreaterThan(0);
      const [row] = await primary.query<{ n: string }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'meshlet-health-check'",
      );
      expect(row?.n).toBe('1');
    } finally {
      p.close();
      s.close();
    }
  });

  it('fails on a wrong password without naming the password, and connects anew after the server restarts', async () => {
    const wrong = check(primary, 'not-the-password');
    const r = await wrong.probe();
    wrong.close();
    expect(r.ok).toBe(false);
    expect(r.detail).toContain('password authentication failed');
    expect(r.detail).not.toContain('not-the-password');

    const s = check(standby);
    try {
      expect(await s.probe()).toMatchObject({ ok: true, role: 'replica' });
      await standby.kill();
      const down = await s.probe();
      expect(down.ok).toBe(false);
      await standby.start();
      expect(await s.probe()).toMatchObject({ ok: true, role: 'replica' });
    } finally {
      s.close();
    }
  });

  it('fails within its timeout when the server does not answer', async () => {
    // Accepts the connection and never speaks: the probe gives up at the timeout.
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const c = new PostgresHealthCheck(
      { host: '127.0.0.1', port: (silent.address() as AddressInfo).port, user: 'postgres', database: 'postgres' },
      300,
    );
    try {
      const r = await c.probe();
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(/timeout|no answer within 300 ms/i);
    } finally {
      c.close();
      silent.close();
    }
  });

  it('says primary once a standby is promoted', async () => {
    const s = check(standby);
    try {
      await standby.promote();
      expect(await s.probe()).toMatchObject({ ok: true, role: 'primary' });
    } finally {
      s.close();
    }
  });
});
