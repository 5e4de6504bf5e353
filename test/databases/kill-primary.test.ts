import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killRun } from '../../bench/lib/failover/kill-run.mjs';
import { type MeshletPath, meshletPath } from '../../bench/lib/failover/meshlet-path.mjs';
import { DbScratch } from './lib/db-scratch.js';

// Issue 19's first proof, on real PostgreSQL 15: a primary and a streaming
// standby (synchronous_standby_names names the standby, so an acknowledged
// commit is on both), an agent beside each (postgres check, pg_ctl promote,
// pg_ctl stop -m immediate), a control plane with the policy { protocol:
// tcp, failover: { mode: managed } } at its defaults, and the writer app
// (bench/lib/failover/db-writer.mjs) inserting numbered rows through its own
// agent's port for role primary. The primary's postgres is killed with
// SIGKILL (postmaster and backends). The run is the benchmark's
// (kill-run.mjs): the same writer, kill and checks as bench/failover-compare.mjs.
// The time is reported, not asserted.

describe('kill -9 of the primary PostgreSQL: the standby takes over through the same local port', () => {
  const scratch = new DbScratch();
  let path: MeshletPath;

  beforeAll(async () => {
    path = await meshletPath(scratch, 'defaults');
  });

  afterAll(async () => {
    await scratch.stop();
  });

  it('promotes the standby, loses no acknowledged row, and no row reaches the old primary after the new term', async () => {
    const before = await path.ready();
    const r = await killRun(path, { firstNumber: 1, reset: false });
    const after = await path.leader();
    console.log(
      `kill -9 of ${before.name}'s postgres: ${after.name} took writes through the same port ${(r.recoveryMs / 1000).toFixed(2)} s later; ` +
        `${r.acked} rows acknowledged (${r.ackedBeforeKill} before the kill), ${r.lost} lost, ` +
        `${r.staleAcked} acknowledged by the old primary after the promotion, ${r.staleWal} committed in its WAL after it, ` +
        `${r.inFlight} in flight at the crash; writer: ${r.queryErrors} write errors, ${r.connectErrors} refused connections`,
    );
    expect(after.name).not.toBe(before.name);
    expect(r.failedOver).toBe(true);
    expect(r.ackedBeforeKill).toBeGreaterThan(0);
    expect(r.acked).toBeGreaterThan(r.ackedBeforeKill);
    // Every acknowledged row is on the new primary.
    expect(r.lost).toBe(0);
    // The old primary's WAL past the fork holds no commit made after the promotion, and no write the writer
    // had acknowledged came from it after then.
    expect(r.staleWal).toBe(0);
    expect(r.staleAcked).toBe(0);
    // Write errors only on the connections open at the crash; connections refused while there was no
    // primary are not writes (nothing was sent).
    expect(r.queryErrorsOnNewConnections).toBe(0);
    expect(r.queryErrors).toBeLessThanOrEqual(1);
  });
});
