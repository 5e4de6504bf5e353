import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgWriter, wallMs } from '../../bench/lib/failover/db-writer.mjs';
import { type MeshletPath, type PgNode, meshletPath } from '../../bench/lib/failover/meshlet-path.mjs';
import { commitsAfter, pgQuery, timelineFork } from '../../bench/lib/failover/pg-util.mjs';
import { type ChaosHost, ChaosNet } from '../chaos/lib/chaos-net.js';
import { Faults } from '../chaos/lib/faults.js';
import { waitFor } from '../harness/wait.js';
import { DbScratch } from './lib/db-scratch.js';

// Issue 19 on real PostgreSQL 15: the primary's host is partitioned from
// the mesh instead of killed. Each PostgreSQL instance runs with its agent
// in a network namespace of its own (test/chaos's ChaosNet), the control
// plane in a third, the writer's agent in a fourth; the partition is the
// chaos suite's nftables rules in the primary's namespace, dropping every
// packet to and from the other three (the test process, on the bridge,
// still reaches it, to read its state). The primary's agent loses its
// stream: it fences (closes the connections it admitted) and demotes; its
// lease lapses and the standby is promoted. After the partition heals, the
// old primary takes no write: nothing in its WAL after the promotion, and
// every write the writer had acknowledged after it came from the new primary.

describe('the primary PostgreSQL host partitioned from the mesh', () => {
  const scratch = new DbScratch();
  let net: ChaosNet;
  const hosts = new Map<string, ChaosHost>();
  let path: MeshletPath;

  beforeAll(async () => {
    net = ChaosNet.create();
    for (const name of ['pg_1', 'pg_2', 'cp', 'writer']) hosts.set(name, net.host(name.replace('_', '')));
    path = await meshletPath(scratch, 'defaults', {
      place: (name) => {
        const h = hosts.get(name);
        return h && { host: h.ip, wrap: (c, a) => h.wrap(c, a) };
      },
    });
  });

  afterAll(async () => {
    try {
      await scratch.stop();
    } finally {
      net?.destroy();
    }
  });

  it('fences the partitioned primary, promotes the standby, and after the heal the old primary takes no write', async () => {
    const before = await path.ready();
    const standby = path.pair.nodes.find((n) => n !== before) as PgNode;
    const victim = hosts.get(before.name) as ChaosHost;
    const faults = new Faults(victim);
    const writer = new PgWriter({ ...path.writerOptions(), firstNumber: 1 });
    writer.start();
    let cutAt = 0;
    let healedAt = 0;
    let dropped: number;
    try {
      await waitFor('the writer to write', () => writer.acks.length >= 50, { timeoutMs: 30_000 });
      cutAt = wallMs();
      faults.partition([...hosts.values()].filter((h) => h !== victim));
      await waitFor(
        'writes acknowledged by the standby through the same port',
        () => writer.acks.some((a) => a.startedAt > cutAt && a.server === standby.port),
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      dropped = faults.dropped();
      faults.heal();
      healedAt = wallMs();
      // The healed host is back on the mesh: its agent reconnects and sees the newer term.
      await waitFor('writes after the heal', () => writer.acks.filter((a) => a.startedAt > healedAt).length >= 200, {
        timeoutMs: 30_000,
      });
    } finally {
      faults.heal();
      await writer.stop();
    }
    const after = await path.leader();
    expect(after.name).toBe(standby.name);
    const fork = timelineFork(after.dataDir);
    if (!fork) throw new Error(`${after.name} was not promoted`);

    const rows = await pgQuery(path.pair.conn(after), 'SELECT n::int AS n FROM failover_writes');
    const present = new Set(rows.map((r) => r.n));
    const lost = writer.acks.filter((a) => !present.has(a.n));
    const fromOld = writer.acks.filter((a) => a.server === before.port && a.at >= fork.promotedAt);
    const oldCommits = await commitsAfter(before.dataDir, fork.parentTimeline, fork.forkLsn);
    const stale = oldCommits.filter((t) => t >= Math.floor(fork.promotedAt));
    const oldUp = await path.pair.isPrimary(before).then(
      (p) => (p ? 'up as a primary' : 'up as a standby'),
      () => 'down',
    );
    const first = writer.acks.find((a) => a.startedAt > cutAt && a.server === standby.port);
    console.log(
      `partition of ${before.name}'s host: ${dropped} packets dropped; ${after.name} took writes ` +
        `${(((first?.at ?? 0) - cutAt) / 1000).toFixed(2)} s after the cut; ${writer.acks.length} rows acknowledged, ` +
        `${lost.length} lost; the old primary (${oldUp} after the heal) committed ${oldCommits.length - stale.length} ` +
        `unacknowledged transactions before the promotion and ${stale.length} after it; writer: ` +
        `${writer.errors.filter((e) => e.kind === 'query').length} failed writes, ` +
        `${writer.errors.filter((e) => e.kind === 'connect').length} refused connections`,
    );
    expect(dropped).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(fromOld).toEqual([]);
    expect(stale).toEqual([]);
    // After the heal, every write went to the new primary.
    expect(writer.acks.filter((a) => a.startedAt > healedAt).every((a) => a.server === after.port)).toBe(true);
  });
});
