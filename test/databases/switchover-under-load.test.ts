import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgWriter, wallMs } from '../../bench/lib/failover/db-writer.mjs';
import { type MeshletPath, instanceId, meshletPath } from '../../bench/lib/failover/meshlet-path.mjs';
import { ADMIN } from '../../bench/lib/failover/meshlet-mesh.mjs';
import { commitsAfter, pgQuery, timelineFork } from '../../bench/lib/failover/pg-util.mjs';
import { meshctl } from '../harness/meshctl.js';
import { waitFor } from '../harness/wait.js';
import { DbScratch } from './lib/db-scratch.js';

// Issue 19: a manual switchover under load, on real PostgreSQL 15 (primary
// + synchronous standby, managed failover at meshlet's defaults). The writer
// inserts rows through its agent's port for role primary while `meshctl
// switchover pg --to <standby>` runs. What the client may see is what
// docs/databases.md says it retries: the write in flight on each connection
// the old primary's agent closes when it fences (at most one here: the
// writer holds one connection), and connections refused while no primary is
// published (nothing was sent on them). Nothing else fails, nothing
// acknowledged is lost, and the old primary commits nothing after the new
// primary's promotion.

describe('meshctl switchover under load', () => {
  const scratch = new DbScratch();
  let path: MeshletPath;

  beforeAll(async () => {
    path = await meshletPath(scratch, 'defaults');
  });

  afterAll(async () => {
    await scratch.stop();
  });

  it('moves the primary with no failed transaction beyond the one in flight at the fence, and loses nothing', async () => {
    const before = await path.ready();
    const target = path.pair.nodes.find((n) => n !== before);
    if (!target) throw new Error('no standby');
    const writer = new PgWriter({ ...path.writerOptions(), firstNumber: 1 });
    writer.start();
    let asked = 0;
    try {
      await waitFor('the writer to write', () => writer.acks.length >= 50, { timeoutMs: 30_000 });
      asked = wallMs();
      const run = await meshctl(['switchover', 'pg', '--to', instanceId(target)], {
        home: scratch.dir,
        env: { MESHCTL_SERVER: path.cp.url, MESHCTL_TOKEN: ADMIN },
      });
      expect(run.code, `meshctl switchover: ${run.stderr}\n${run.stdout}`).toBe(0);
      await waitFor(
        'writes acknowledged by the new primary',
        () => writer.acks.filter((a) => a.startedAt > asked && a.server === target.port).length >= 50,
        { timeoutMs: 30_000 },
      );
    } finally {
      await writer.stop();
    }
    const after = await path.leader();
    expect(after.name).toBe(target.name);

    const rows = await pgQuery(path.pair.conn(after), 'SELECT n::int AS n FROM failover_writes');
    const present = new Set(rows.map((r) => r.n));
    const lost = writer.acks.filter((a) => !present.has(a.n));
    const fork = timelineFork(after.dataDir);
    if (!fork) throw new Error(`${after.name} has no new timeline: it was not promoted`);
    const stale = (await commitsAfter(before.dataDir, fork.parentTimeline, fork.forkLsn)).filter(
      (t: number) => t >= Math.floor(fork.promotedAt),
    );
    const queryErrors = writer.errors.filter((e) => e.kind === 'query');
    const refused = writer.errors.filter((e) => e.kind === 'connect');
    const firstOnNew = writer.acks.find((a) => a.server === target.port);
    console.log(
      `switchover ${before.name} -> ${after.name} under load: ${writer.acks.length} rows acknowledged, ${lost.length} lost, ` +
        `${stale.length} committed by the old primary after the promotion; writer: ${queryErrors.length} failed writes ` +
        `(${queryErrors.map((e) => e.message).join('; ') || 'none'}), ${refused.length} refused connections; ` +
        `first write on the new primary ${firstOnNew ? ((firstOnNew.at - asked) / 1000).toFixed(2) : '?'} s after the request`,
    );
    expect(lost).toEqual([]);
    expect(stale).toEqual([]);
    // The writer holds one connection: at most its one write in flight at the fence fails (the client retries it).
    expect(queryErrors.length).toBeLessThanOrEqual(1);
    for (const e of queryErrors) expect(e.connOpenedAt ?? 0).toBeLessThan(firstOnNew?.startedAt ?? Infinity);
  });
});
