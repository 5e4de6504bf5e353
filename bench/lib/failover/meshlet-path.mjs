// The meshlet path: PostgreSQL 15 primary + synchronous standby
// (pg-pair.mjs), an agent beside each (postgres check, instance.failover
// with `pg_ctl promote` and `pg_ctl stop -m immediate`), a control plane
// with the policy `{ protocol: tcp, failover: { mode: managed } }`, and the
// writer's own agent, whose dedicated upstream port (role primary) is the
// writer's one address. The same path serves the proofs in test/databases/.
//
// Settings:
//   defaults: every meshlet default (check every 1000 ms, unhealthy after 2,
//     leaseMs 3000, candidateStaggerMs 1000, the control plane's push timings).
//   tuned: the check every 200 ms (timeout 200 ms, healthy after 1), leaseMs
//     1000 (the lowest the policy takes).
//
// A deposed primary rejoins by being cloned again from the new primary
// (pg-pair's follow); no `rejoin` command is configured, so nothing touches
// its data dir before the run has read its WAL.
import { PG_TABLE_SQL } from './db-writer.mjs';
import { MESHLET_SETTINGS, startManagedMeshlet } from './meshlet-managed.mjs';
import { commitsAfter, pgQuery, timelineFork } from './pg-util.mjs';
import { startPgPair } from './pg-pair.mjs';

export { MESHLET_SETTINGS };

/** Instance id of a PostgreSQL node (`pg_1` → `pg-1`: ids take dashes, PostgreSQL names underscores). */
export const instanceId = (node) => node.name.replace('_', '-');

/**
 * The meshlet path with `settings` ('defaults' or 'tuned') in `ctx`
 * ({ group, dir, log }). `place(name)` puts a node (a PostgreSQL instance
 * with its agent, `pg_1`, `pg_2`; or `cp`, `writer`) elsewhere than
 * loopback: `{ host, wrap }` (see pg-pair.mjs); absent: all on loopback.
 */
export async function meshletPath(ctx, settings, { place } = {}) {
  const where = (name) => place?.(name) ?? { host: '127.0.0.1' };
  const pair = await startPgPair(ctx, { place: where });
  const primary0 = await pair.primary();
  await pgQuery(pair.conn(primary0), PG_TABLE_SQL);
  const mesh = await startManagedMeshlet(ctx, {
    service: 'pg',
    settings,
    nodes: pair.nodes,
    idOf: instanceId,
    first: primary0,
    isPrimary: (n) => pair.isPrimary(n),
    probe: (address) => pgQuery(address, 'SELECT 1'),
    label: `meshlet-${settings}`,
    place,
    instance: (node, check) => {
      const [pc, pa] = pair.asPostgres('pg_ctl', ['promote', '-w', '-t', '30', '-D', node.dataDir]);
      const [dc, da] = pair.asPostgres('pg_ctl', ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', node.dataDir]);
      return {
        service: 'pg',
        id: instanceId(node),
        app: { host: node.host, port: node.port },
        healthCheck: { kind: 'postgres', ...check },
        failover: { priority: 1, promote: { command: [pc, ...pa] }, demote: { command: [dc, ...da] } },
      };
    },
  });
  const { ready } = mesh;

  return {
    db: 'postgres',
    pair,
    cp: mesh.cp,
    failoverState: mesh.failoverState,
    agents: mesh.agents,
    writerOptions: () => ({ ...mesh.writerAddress }),
    ready,
    kill: (node) => pair.kill(node),
    leader: mesh.leader,
    async verify({ before, after, acks, lo, hi }) {
      const rows = await pgQuery(pair.conn(after), 'SELECT n::int AS n FROM failover_writes WHERE n >= $1 AND n < $2', [
        lo,
        hi,
      ]);
      const present = new Set(rows.map((r) => r.n));
      const lost = acks.filter((a) => !present.has(a.n)).length;
      if (after === before) return { failedOver: false, lost, staleAcked: 0, staleWal: 0, inFlight: 0 };
      const fork = timelineFork(after.dataDir);
      const staleAcked = acks.filter((a) => a.server === before.port && a.at >= fork.promotedAt).length;
      const commits = await commitsAfter(before.dataDir, fork.parentTimeline, fork.forkLsn);
      const staleWal = commits.filter((t) => t >= Math.floor(fork.promotedAt)).length;
      return { failedOver: true, lost, staleAcked, staleWal, inFlight: commits.length - staleWal, fork };
    },
    async reset({ before, after }) {
      if (before.proc.exitCode === null && before.proc.signalCode === null) before.proc.kill('SIGKILL');
      await before.proc.exited;
      await pair.follow(before, after);
      await ready();
    },
    async stop() {},
  };
}
