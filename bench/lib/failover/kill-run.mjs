// One run of the failover benchmark on one path: the writer writes through
// the path's single address; once it has written for `warmupMs`, the
// primary's server is killed (SIGKILL); the run waits for the first write
// that began after the kill to be acknowledged (the time to recover), lets
// the writer go on for `tailMs` on the new primary, stops it, and checks
// every acknowledged write on whichever server is the primary at the end.
// Then the path is put back (the deposed node rejoins as a replica) so that
// the next run starts from the same state (`reset: false` for a path's last run).
import { waitFor } from '@meshlet/test-harness/wait';
import { PgWriter, RedisWriter, wallMs } from './db-writer.mjs';

/**
 * Runs once on `path` (see patroni-path.mjs for the shape). `firstNumber`
 * is the writer's first record number (runs continue the numbering, so a
 * run never meets an earlier run's rows). Returns the run's figures.
 */
export async function killRun(
  path,
  { firstNumber, warmupMs = 1000, tailMs = 1000, recoverTimeoutMs = 180_000, reset = true },
) {
  const before = await path.ready();
  const Writer = path.db === 'postgres' ? PgWriter : RedisWriter;
  const writer = new Writer({ ...path.writerOptions(), firstNumber });
  const startedAt = wallMs();
  writer.start();
  let killAt;
  try {
    await waitFor(
      'the writer to write before the kill',
      () => writer.acks.length > 0 && wallMs() - startedAt >= warmupMs,
      {
        timeoutMs: 60_000,
        intervalMs: 20,
      },
    );
    killAt = wallMs();
    await path.kill(before);
    const first = await waitFor('the first write after the kill', () => writer.firstAckAfter(killAt), {
      timeoutMs: recoverTimeoutMs,
      intervalMs: 5,
    });
    const recoveredAt = first.at;
    await waitFor('the tail of writes after the recovery', () => wallMs() - recoveredAt >= tailMs, { intervalMs: 20 });
  } finally {
    await writer.stop();
  }
  const first = writer.firstAckAfter(killAt);
  const after = await path.leader();
  const acks = writer.acks;
  const verdict = await path.verify({ before, after, acks, lo: firstNumber, hi: writer.nextNumber });
  const queryErrors = writer.errors.filter((e) => e.kind === 'query');
  const result = {
    recoveryMs: first.at - killAt,
    ...verdict,
    acked: acks.length,
    ackedBeforeKill: acks.filter((a) => a.at < killAt).length,
    queryErrors: queryErrors.length,
    // Write errors on connections opened after the kill: a path that routes new connections to a dead or deposed primary.
    queryErrorsOnNewConnections: queryErrors.filter((e) => e.connOpenedAt !== undefined && e.connOpenedAt >= killAt)
      .length,
    connectErrors: writer.errors.filter((e) => e.kind === 'connect').length,
    nextNumber: writer.nextNumber,
  };
  // The last run of a path leaves it as it is: its processes are stopped next.
  if (reset) await path.reset({ before, after });
  return result;
}
