// The PostgreSQL anchor: Patroni 3.0 + etcd + HAProxy 2.6, from Debian, as
// Patroni's own examples set it up (postgres0.yml, haproxy.cfg): two
// PostgreSQL 15 instances, each run by its Patroni (as the postgres user,
// data dirs under the run's scratch dir), one etcd member (the run's own),
// and HAProxy sending connections to the instance whose Patroni answers 200
// on `/primary`. `synchronous_mode: true`, so an acknowledged commit is on
// both instances.
//
// Settings (the `settings` argument, from failover-compare's path list):
//   defaults: ttl 30, loop_wait 10, retry_timeout 10, primary_start_timeout
//     300 (Patroni's defaults); HAProxy `inter 3s fall 3 rise 2` (haproxy.cfg).
//   tuned: ttl 20, loop_wait 1, retry_timeout 3 (the documented minimums,
//     loop_wait + 2 * retry_timeout <= ttl), primary_start_timeout 0
//     ("failover is done immediately after a crash is detected if
//     possible"); HAProxy `inter 100ms fall 1 rise 1`.
//
// The deposed node rejoins by being cloned again (Patroni stopped, its data
// dir removed, Patroni started: it takes a pg_basebackup from the leader):
// use_pg_rewind is off so that nothing rewrites the deposed primary's WAL
// before the run has read it.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { startEtcdCluster } from '@meshlet/test-harness/etcd';
import { FatalError, waitUntil as waitFor } from './wait-until.mjs';
import { findBinary } from '../system-proxies.mjs';
import { PG_TABLE_SQL } from './db-writer.mjs';
import { asPostgres, commitsAfter, killPostgres, PG_BIN, pgQuery, postgresOwnedDir, timelineFork } from './pg-util.mjs';

/** Patroni's and HAProxy's settings for each variant. */
export const PATRONI_SETTINGS = {
  defaults: {
    dcs: { ttl: 30, loop_wait: 10, retry_timeout: 10, primary_start_timeout: 300 },
    check: 'inter 3s fall 3 rise 2',
  },
  tuned: {
    dcs: { ttl: 20, loop_wait: 1, retry_timeout: 3, primary_start_timeout: 0 },
    check: 'inter 100ms fall 1 rise 1',
  },
};

function patroniConfig(node, etcdHost, dcs, dir) {
  return {
    scope: 'meshlet-bench',
    name: node.name,
    log: { level: 'WARNING' },
    restapi: { listen: `127.0.0.1:${node.restPort}`, connect_address: `127.0.0.1:${node.restPort}` },
    etcd3: { hosts: [etcdHost] },
    bootstrap: {
      dcs: {
        ...dcs,
        maximum_lag_on_failover: 1048576,
        synchronous_mode: true,
        postgresql: {
          use_pg_rewind: false,
          use_slots: true,
          parameters: { wal_level: 'replica', hot_standby: 'on', max_wal_senders: 10, wal_keep_size: '256MB' },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
      pg_hba: ['host replication replicator 127.0.0.1/32 trust', 'host all all 127.0.0.1/32 trust'],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: node.dataDir,
      bin_dir: PG_BIN,
      pgpass: join(dir, `pgpass-${node.name}`),
      authentication: {
        replication: { username: 'replicator', password: 'bench-replication' },
        superuser: { username: 'postgres', password: 'bench-superuser' },
      },
      parameters: { unix_socket_directories: dir },
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

function haproxyConfig(port, nodes, check) {
  return [
    'global',
    '    maxconn 100',
    'defaults',
    '    mode tcp',
    '    retries 2',
    '    timeout client 30m',
    '    timeout connect 4s',
    '    timeout server 30m',
    '    timeout check 5s',
    'listen pg',
    `    bind 127.0.0.1:${port}`,
    '    option httpchk OPTIONS /primary',
    '    http-check expect status 200',
    `    default-server ${check} on-marked-down shutdown-sessions`,
    ...nodes.map((n) => `    server ${n.name} 127.0.0.1:${n.pgPort} maxconn 100 check port ${n.restPort}`),
    '',
  ].join('\n');
}

async function restJson(node, path) {
  const res = await fetch(`http://127.0.0.1:${node.restPort}${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

/**
 * The Patroni + etcd + HAProxy path with `settings` ('defaults' or
 * 'tuned'), in `ctx` ({ group, dir, log }). Returns the path object that
 * bench/lib/failover/kill-run.mjs drives.
 */
export async function patroniPath(ctx, settings) {
  const { group, log } = ctx;
  const variant = PATRONI_SETTINGS[settings];
  for (const bin of ['patroni', 'haproxy']) {
    if (!findBinary(bin)) throw new Error(`${bin} is not installed: apt-get install patroni haproxy`);
  }
  const dir = postgresOwnedDir(`patroni-${settings}-`, ctx.dir);
  const etcd = await startEtcdCluster({ dir: ctx.dir }, 1, { onSpawn: (p) => group.add(p, 'SIGKILL') });
  const etcdHost = etcd.endpoints[0].replace('http://', '');
  const nodes = [];
  for (const name of ['pg1', 'pg2']) {
    nodes.push({ name, pgPort: await getPort(), restPort: await getPort(), dataDir: join(dir, `data-${name}`) });
  }
  const startPatroni = (node) => {
    const file = join(dir, `${node.name}.yml`);
    // JSON is YAML: Patroni reads it as is.
    writeFileSync(file, JSON.stringify(patroniConfig(node, etcdHost, variant.dcs, dir), null, 2));
    const [command, args] = asPostgres('/usr/bin/patroni', [file]);
    node.proc = group.start(`patroni ${node.name}`, command, args, { env: { ...process.env, HOME: dir } });
  };
  const members = async () => {
    for (const n of nodes) {
      try {
        return (await restJson(n, '/cluster')).body.members ?? [];
      } catch {
        // that node's Patroni is down: ask the other
      }
    }
    throw new Error('no Patroni REST API answers');
  };
  const leader = async () => {
    const m = (await members()).find((x) => x.role === 'leader' && x.state === 'running');
    return m ? nodes.find((n) => n.name === m.name) : false;
  };
  const alive = () => {
    for (const n of nodes) {
      if (n.proc && (n.proc.exitCode !== null || n.proc.signalCode !== null) && !n.stopping)
        throw new FatalError(`patroni ${n.name} exited: ${n.proc.tail()}`);
    }
  };
  const healthy = async () => {
    alive();
    const list = await members();
    const leader = list.find((m) => m.role === 'leader' && m.state === 'running');
    const sync = list.find((m) => m.role === 'sync_standby' && ['running', 'streaming'].includes(m.state));
    if (!leader || !sync) return false;
    const node = nodes.find((n) => n.name === leader.name);
    const rows = await pgQuery(
      { port: node.pgPort },
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'",
    );
    return rows[0]?.n === 1 ? node : false;
  };
  const waitHealthy = (timeoutMs = 120_000) =>
    waitFor('the Patroni cluster to have a leader and a streaming synchronous standby', healthy, {
      timeoutMs,
      intervalMs: 200,
    });

  startPatroni(nodes[0]);
  await waitFor(
    `${nodes[0].name} to bootstrap and lead`,
    async () => {
      alive();
      return (await restJson(nodes[0], '/primary')).status === 200;
    },
    {
      timeoutMs: 120_000,
      intervalMs: 200,
    },
  );
  startPatroni(nodes[1]);
  const leader0 = await waitHealthy();
  await pgQuery({ port: leader0.pgPort }, PG_TABLE_SQL);

  const haproxyPort = await getPort();
  const cfg = join(ctx.dir, `haproxy-patroni-${settings}.cfg`);
  writeFileSync(cfg, haproxyConfig(haproxyPort, nodes, variant.check));
  group.start(`haproxy (patroni ${settings})`, findBinary('haproxy'), ['-db', '-f', cfg]);
  await waitFor(
    'HAProxy to route to the leader',
    async () => (await pgQuery({ port: haproxyPort }, 'SELECT pg_is_in_recovery() AS r'))[0]?.r === false,
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  log(`patroni-${settings}: leader ${leader0.name}, HAProxy on ${haproxyPort}`);

  return {
    db: 'postgres',
    writerOptions: () => ({ host: '127.0.0.1', port: haproxyPort }),
    /** Waits for a leader with a streaming synchronous standby; returns the leader. */
    ready: () => waitHealthy(),
    kill(node) {
      killPostgres(node.dataDir);
    },
    /** The node whose Patroni holds the leader key with its postgres running. */
    leader: () => waitFor('a Patroni leader', leader, { timeoutMs: 120_000, intervalMs: 200 }),
    async verify({ before, after, acks, lo, hi }) {
      const rows = await pgQuery(
        { port: after.pgPort },
        'SELECT n::int AS n FROM failover_writes WHERE n >= $1 AND n < $2',
        [lo, hi],
      );
      const present = new Set(rows.map((r) => r.n));
      const lost = acks.filter((a) => !present.has(a.n)).length;
      if (after === before) return { failedOver: false, lost, staleAcked: 0, staleWal: 0, inFlight: 0 };
      const fork = timelineFork(after.dataDir);
      const staleAcked = acks.filter((a) => a.server === before.pgPort && a.at >= fork.promotedAt).length;
      const commits = await commitsAfter(before.dataDir, fork.parentTimeline, fork.forkLsn);
      const staleWal = commits.filter((t) => t >= Math.floor(fork.promotedAt)).length;
      return { failedOver: true, lost, staleAcked, staleWal, inFlight: commits.length - staleWal };
    },
    async reset({ before, after }) {
      if (after !== before) {
        // The deposed node is cloned again from the new leader.
        before.stopping = true;
        before.proc.kill('SIGTERM');
        await Promise.race([before.proc.exited, new Promise((r) => setTimeout(r, 20_000))]);
        if (before.proc.exitCode === null && before.proc.signalCode === null) before.proc.kill('SIGKILL');
        try {
          killPostgres(before.dataDir);
        } catch {
          // not running
        }
        rmSync(before.dataDir, { recursive: true, force: true });
        startPatroni(before);
        before.stopping = false;
      }
      await waitHealthy();
    },
    async stop() {
      for (const n of nodes) n.proc?.kill('SIGTERM');
      await Promise.race([Promise.all(nodes.map((n) => n.proc?.exited)), new Promise((r) => setTimeout(r, 15_000))]);
      await etcd.stop();
    },
  };
}
