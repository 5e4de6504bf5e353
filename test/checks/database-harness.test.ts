import { afterAll, describe, expect, it } from 'vitest';
import { killAll } from '../harness/process.js';
import { type PostgresInstance, startPostgresPrimary, startPostgresStandby } from '../harness/postgres.js';
import { type RedisInstance, startRedis } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

// The harness the database tests and benchmarks share: a real PostgreSQL 15
// primary with a synchronous streaming standby, and a Redis primary with a
// replica, each started, crashed, promoted and removed as they will be.
describe('database harness', () => {
  const started: { cleanup(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const s of started.reverse()) await s.cleanup().catch(() => {});
    await killAll();
  });

  it('runs a PostgreSQL primary and a synchronous standby, crashes the primary and promotes the standby', async () => {
    const primary: PostgresInstance = await startPostgresPrimary({ synchronousStandbyNames: 'standby1' });
    started.push(primary);
    const standby = await startPostgresStandby(primary, { name: 'standby1' });
    started.push(standby);
    expect(await primary.isPrimary()).toBe(true);
    expect(await standby.isPrimary()).toBe(false);
    // The primary counts the standby as synchronous once it has replied with a flush position (after some WAL).
    await primary.query('CREATE TABLE t (n int)');
    await waitFor('standby1 synchronous', async () => {
      const [row] = await primary.query<{ sync_state: string }>(
        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'",
      );
      return row?.sync_state === 'sync';
    });
    await primary.query('INSERT INTO t VALUES (1)');
    // Synchronous commit: once acknowledged, the row is on the standby (after replay).
    await waitFor('the row on the standby', async () => (await standby.query('SELECT n FROM t')).length === 1);

    await primary.kill();
    expect(primary.proc.running).toBe(false);
    await standby.promote();
    await standby.query('INSERT INTO t VALUES (2)');
    expect((await standby.query<{ n: number }>('SELECT n FROM t ORDER BY n')).map((r) => r.n)).toEqual([1, 2]);
    await primary.start();
    expect(await primary.isPrimary()).toBe(true);
  });

  it('runs a Redis primary and a replica, and kills the primary', async () => {
    const primary: RedisInstance = await startRedis();
    started.push(primary);
    const replica = await startRedis({ replicaOf: { host: primary.host, port: primary.port } });
    started.push(replica);
    expect(await primary.role()).toBe('master');
    expect(await replica.role()).toBe('slave');
    await primary.command('SET', 'k', 'v');
    await waitFor('the key on the replica', async () => (await replica.command('GET', 'k')) === 'v');
    await primary.kill();
    await replica.command('REPLICAOF', 'NO', 'ONE');
    expect(await replica.role()).toBe('master');
  });
});
