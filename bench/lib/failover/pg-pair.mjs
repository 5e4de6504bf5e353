// Two PostgreSQL 15 instances, a primary and a streaming standby, for the
// meshlet path of the failover benchmark and for the database proofs
// (test/databases/): the part Patroni does on the anchor path, done here
// by the run itself, as an operator's scripts would.
//
// Each instance has a fixed port and a fixed data dir for its whole life
// (its agent's commands name them); a deposed primary rejoins by being
// cloned again from the new primary into the same data dir (pg_basebackup
// -R: standby.signal and primary_conninfo with its application_name).
// Synchronous replication is set on the current primary only, by ALTER
// SYSTEM once its standby streams: `synchronous_standby_names` names the
// standby, so an acknowledged commit is on both. A standby's copy of
// postgresql.auto.conf comes from before that, so a promoted standby takes
// writes alone until a standby joins it (Patroni's synchronous_mode, not
// _strict).
//
// `place(name)` may put an instance elsewhere than loopback (a network
// namespace of the chaos suite): `{ host, wrap }`, where `wrap` turns the
// postgres command into the one to spawn.
import { execFile } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import { waitUntil, FatalError } from './wait-until.mjs';
import { asPostgres, killPostgres, pgQuery, postgresOwnedDir, requirePostgres } from './pg-util.mjs';

const run = promisify(execFile);

async function runAsPostgres(program, args) {
  const [command, full] = asPostgres(program, args);
  try {
    return (await run(command, full, { timeout: 120_000, encoding: 'utf8' })).stdout;
  } catch (e) {
    throw new Error(`${program} ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: e });
  }
}

/**
 * Starts `pg_1` (primary, initdb) and `pg_2` (standby, pg_basebackup) in
 * `ctx` ({ group, dir }); returns { nodes, primary(), standbyOf(), ... }.
 */
export async function startPgPair(ctx, { place = () => ({ host: '127.0.0.1' }), settings = {} } = {}) {
  requirePostgres();
  const dir = postgresOwnedDir('pg-pair-', ctx.dir);
  const nodes = [];
  for (const name of ['pg_1', 'pg_2']) {
    const { host, wrap } = place(name);
    nodes.push({ name, host, wrap, port: await getPort(), dataDir: join(dir, name), proc: undefined });
  }
  const conn = (n) => ({ host: n.host, port: n.port });
  const startServer = async (node) => {
    const args = ['-D', node.dataDir, '-p', String(node.port)];
    const all = {
      listen_addresses: node.host === '127.0.0.1' ? '127.0.0.1' : `127.0.0.1,${node.host}`,
      unix_socket_directories: '',
      wal_level: 'replica',
      hot_standby: 'on',
      max_wal_senders: '10',
      wal_keep_size: '256MB',
      ...settings,
    };
    for (const [k, v] of Object.entries(all)) args.push('-c', `${k}=${v}`);
    const [command, full] = asPostgres('postgres', args);
    const [c, a] = node.wrap ? node.wrap(command, full) : [command, full];
    node.proc = ctx.group.start(`postgres ${node.name}`, c, a);
    await waitUntil(
      `${node.name} to accept connections`,
      async () => {
        if (node.proc.exitCode !== null) throw new FatalError(`postgres ${node.name} exited: ${node.proc.tail()}`);
        await pgQuery(conn(node), 'SELECT 1');
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  };
  const isPrimary = async (node) => (await pgQuery(conn(node), 'SELECT pg_is_in_recovery() AS r'))[0]?.r === false;
  /** Clones `standby` from `primary` into its (emptied) data dir, starts it, and makes the primary synchronous on it. */
  const follow = async (standby, primary) => {
    rmSync(standby.dataDir, { recursive: true, force: true });
    const conninfo = `host=${primary.host} port=${primary.port} user=postgres application_name=${standby.name}`;
    await runAsPostgres('pg_basebackup', ['-d', conninfo, '-D', standby.dataDir, '-X', 'stream', '-c', 'fast', '-R']);
    await startServer(standby);
    await waitUntil(
      `${standby.name} to stream from ${primary.name}`,
      async () =>
        (
          await pgQuery(
            conn(primary),
            "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
            [standby.name],
          )
        )[0]?.n === 1,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await pgQuery(conn(primary), `ALTER SYSTEM SET synchronous_standby_names = '${standby.name}'`);
    await pgQuery(conn(primary), 'SELECT pg_reload_conf()');
    await waitUntil(
      `${primary.name} to replicate synchronously to ${standby.name}`,
      async () =>
        (
          await pgQuery(conn(primary), "SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync'")
        )[0]?.n === 1,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  };

  await runAsPostgres('initdb', [
    '-D',
    nodes[0].dataDir,
    '-U',
    'postgres',
    '--no-locale',
    '-E',
    'UTF8',
    '--auth-local=trust',
    '--auth-host=trust',
  ]);
  // initdb's pg_hba.conf trusts loopback only; an instance placed on a namespace's address needs its subnet too.
  appendFileSync(
    join(nodes[0].dataDir, 'pg_hba.conf'),
    'host all all samenet trust\nhost replication all samenet trust\n',
  );
  await startServer(nodes[0]);
  await follow(nodes[1], nodes[0]);

  return {
    nodes,
    conn,
    isPrimary,
    /** The node that answers as a primary (one of them, or undefined). */
    async primary() {
      for (const n of nodes) {
        try {
          if (await isPrimary(n)) return n;
        } catch {
          // down
        }
      }
      return undefined;
    },
    /** SIGKILL to the node's postmaster and backends; waits for the exit. */
    async kill(node) {
      killPostgres(node.dataDir);
      await node.proc.exited;
    },
    follow,
    startServer,
    /** `[command, args]` running a PostgreSQL program as the postgres user (for the agents' commands). */
    asPostgres,
  };
}
