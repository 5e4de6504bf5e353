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
import getPort from 'get-port';
import { PG_TABLE_SQL } from './db-writer.mjs';
import { assertRunning, startMeshletAgent, startMeshletControlPlane } from './meshlet-mesh.mjs';
import { commitsAfter, pgQuery, timelineFork } from './pg-util.mjs';
import { startPgPair } from './pg-pair.mjs';
import { FatalError, waitUntil } from './wait-until.mjs';

/** The check and policy of each variant. */
export const MESHLET_SETTINGS = {
  defaults: { check: {}, failover: {} },
  tuned: {
    check: { intervalMs: 200, timeoutMs: 200, healthyThreshold: 1, unhealthyThreshold: 2 },
    failover: { leaseMs: 1000 },
  },
};

/** Instance id of a PostgreSQL node (`pg_1` → `pg-1`: ids take dashes, PostgreSQL names underscores). */
export const instanceId = (node) => node.name.replace('_', '-');

/**
 * The meshlet path with `settings` ('defaults' or 'tuned') in `ctx`
 * ({ group, dir, log }). `place(name)` puts a node (a PostgreSQL instance
 * with its agent, `pg_1`, `pg_2`; or `cp`, `writer`) elsewhere than
 * loopback: `{ host, wrap }` (see pg-pair.mjs); absent: all on loopback.
 */
export async function meshletPath(ctx, settings, { place } = {}) {
  const variant = MESHLET_SETTINGS[settings];
  const where = (name) => place?.(name) ?? { host: '127.0.0.1' };
  const pair = await startPgPair(ctx, { place: where });
  const primary0 = await pair.primary();
  await pgQuery(pair.conn(primary0), PG_TABLE_SQL);
  const cp = await startMeshletControlPlane(ctx, {
    place,
    services: { pg: { protocol: 'tcp', failover: { mode: 'managed', ...variant.failover } } },
  });
  const failoverState = async () => {
    const r = await cp.api('GET', '/v1/services/pg/failover');
    if (r.status !== 200) throw new Error(`GET /v1/services/pg/failover: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const agents = new Map();
  for (const node of pair.nodes) {
    const id = instanceId(node);
    const [pc, pa] = pair.asPostgres('pg_ctl', ['promote', '-w', '-t', '30', '-D', node.dataDir]);
    const [dc, da] = pair.asPostgres('pg_ctl', ['stop', '-m', 'immediate', '-w', '-t', '30', '-D', node.dataDir]);
    const config = {
      instance: {
        service: 'pg',
        id,
        app: { host: node.host, port: node.port },
        healthCheck: { kind: 'postgres', ...variant.check },
        failover: { priority: 1, promote: { command: [pc, ...pa] }, demote: { command: [dc, ...da] } },
      },
    };
    agents.set(id, await startMeshletAgent(ctx, cp, id, config, { place, node: node.name }));
    if (node === primary0)
      await waitUntil(
        `${id} to be published as the primary`,
        async () => (await failoverState()).state.primary === id,
        {
          timeoutMs: 60_000,
          intervalMs: 100,
        },
      );
  }
  const writerPort = await getPort();
  const writerHost = where('writer').host;
  const writer = await startMeshletAgent(
    ctx,
    cp,
    'writer',
    { service: 'writer', upstreams: [{ service: 'pg', port: writerPort, host: writerHost, role: 'primary' }] },
    { place },
  );

  const alive = () => assertRunning([cp.proc, writer.proc, ...[...agents.values()].map((a) => a.proc)]);
  /** The published primary with the other node a candidate, and a write through the writer's port. */
  const ready = () =>
    waitUntil(
      'meshlet to publish the primary with the standby as a candidate, and a write to pass',
      async () => {
        alive();
        const primaries = [];
        for (const n of pair.nodes) if (await pair.isPrimary(n).catch(() => false)) primaries.push(n);
        // Both agents start together: a standby promoted at bootstrap (before the primary's agent reported) is a
        // second primary, which no later state repairs.
        if (primaries.length > 1)
          throw new FatalError('both PostgreSQL instances are primaries: a standby was promoted');
        const [primary] = primaries;
        if (!primary) throw new Error('no PostgreSQL instance answers as a primary');
        const other = pair.nodes.find((n) => n !== primary);
        const d = await failoverState();
        if (d.state.primary !== instanceId(primary) || !d.state.candidates.includes(instanceId(other)))
          throw new Error(`${primary.name} is the primary; the control plane says ${JSON.stringify(d)}`);
        await pgQuery({ port: writerPort, host: writerHost }, 'SELECT 1');
        return primary;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
  const first = await ready();
  ctx.log(`meshlet-${settings}: primary ${first.name}, the writer's port ${writerPort}`);

  return {
    db: 'postgres',
    pair,
    cp,
    failoverState,
    agents,
    writerOptions: () => ({ host: writerHost, port: writerPort }),
    ready,
    kill: (node) => pair.kill(node),
    /** The node meshlet publishes as primary, once it answers as one. */
    leader: () =>
      waitUntil(
        'meshlet to publish a primary that answers as one',
        async () => {
          alive();
          const { state } = await failoverState();
          const node = pair.nodes.find((n) => instanceId(n) === state.primary);
          return node && (await pair.isPrimary(node)) ? node : false;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      ),
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
