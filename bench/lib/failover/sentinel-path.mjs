// The Redis anchor: Redis Sentinel 7 from Debian, as its documentation sets
// it up: a primary, a replica and three Sentinels (quorum 2), all on
// loopback. The writer is the Sentinel-aware ioredis client: it asks the
// Sentinels for the master on every connection, which is how Sentinel is
// meant to be used (Sentinel is a discovery service, not a proxy); a fixed
// address would need a proxy in front that Sentinel does not provide.
//
// Settings:
//   defaults: down-after-milliseconds 30000, failover-timeout 180000
//     (sentinel.conf's defaults).
//   tuned: down-after-milliseconds 1000: the Sentinels PING every instance
//     once a second, so one second is the shortest setting that does not
//     call a primary down between two PINGs; failover-timeout unchanged (it
//     bounds retries, not the first failover).
//
// Redis replicates asynchronously: a write the primary acknowledged and had
// not yet sent to the replica when it was killed is lost; the run counts
// them. The servers run without persistence (`--save '' --appendonly no`),
// as the tests' harness does; the deposed primary rejoins as a new process
// started with `--replicaof` the new master.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { waitFor } from '@meshlet/test-harness/wait';
import { findBinary } from '../system-proxies.mjs';
import { missingKeys, redisCall, startRedisPair } from './redis-pair.mjs';

/** Sentinel's settings for each variant. */
export const SENTINEL_SETTINGS = {
  defaults: { downAfterMs: 30_000, failoverTimeoutMs: 180_000 },
  tuned: { downAfterMs: 1000, failoverTimeoutMs: 180_000 },
};

const MASTER = 'bench';

/** Sentinel's reply to SENTINEL REPLICAS/MASTER (flat [k, v, k, v]) as an object. */
const pairs = (flat) => Object.fromEntries(flat.reduce((acc, v, i) => (i % 2 ? acc : [...acc, [v, flat[i + 1]]]), []));

/** The Redis Sentinel path with `settings` ('defaults' or 'tuned'), in `ctx` ({ group, dir, log }). */
export async function sentinelPath(ctx, settings) {
  const { group, dir, log } = ctx;
  const variant = SENTINEL_SETTINGS[settings];
  const sentinelBin = findBinary('redis-sentinel');
  if (!sentinelBin) throw new Error('redis-sentinel is not installed: apt-get install redis-sentinel');
  const { nodes, start: startServer } = await startRedisPair(ctx);
  // The Sentinels are started afresh for every run, monitoring the current master: a Sentinel that took part in a
  // failover holds back from starting another on the same master for twice failover-timeout (a third run within
  // 6 minutes waited that long), so each run measures one failover from a Sentinel's steady state, as Patroni's.
  const sentinels = [];
  let generation = 0;
  const startSentinels = async (master) => {
    for (const s of sentinels.splice(0)) {
      s.proc.kill('SIGTERM');
      await s.proc.exited;
    }
    generation++;
    for (let i = 0; i < 3; i++) {
      const port = await getPort();
      const file = join(dir, `sentinel-${settings}-${generation}-${i}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'protected-mode no',
          `dir ${dir}`,
          `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER} ${variant.downAfterMs}`,
          `sentinel failover-timeout ${MASTER} ${variant.failoverTimeoutMs}`,
          `sentinel parallel-syncs ${MASTER} 1`,
          '',
        ].join('\n'),
      );
      const proc = group.start(`sentinel ${i}`, sentinelBin, [file]);
      sentinels.push({ host: '127.0.0.1', port, proc });
    }
  };
  await startSentinels(nodes[0]);
  const masterPort = async () =>
    Number((await redisCall(sentinels[0].port, 'SENTINEL', 'get-master-addr-by-name', MASTER))[1]);
  const healthy = async () => {
    const port = await masterPort();
    for (const s of sentinels) {
      const m = pairs(await redisCall(s.port, 'SENTINEL', 'master', MASTER));
      if (Number(m.port) !== port || /down|failover/.test(m.flags) || m['num-other-sentinels'] !== '2') return false;
      const replicas = (await redisCall(s.port, 'SENTINEL', 'replicas', MASTER)).map(pairs);
      if (!replicas.some((r) => r.flags === 'slave' && r['master-link-status'] === 'ok')) return false;
    }
    const info = String(await redisCall(port, 'INFO', 'replication'));
    if (!/role:master/.test(info) || !/slave0:.*state=online/.test(info)) return false;
    return nodes.find((n) => n.port === port);
  };
  const ready = () =>
    waitFor('Sentinel to agree on a master with an online replica', healthy, { timeoutMs: 120_000, intervalMs: 200 });
  await ready();
  log(`sentinel-${settings}: master ${await masterPort()}, sentinels on ${sentinels.map((s) => s.port).join(', ')}`);

  // When each switch happened: the new master's term begins at +switch-master.
  let switchedAt;
  let watcher;
  const watch = async () => {
    watcher?.disconnect();
    watcher = new Redis({ host: '127.0.0.1', port: sentinels[0].port, retryStrategy: () => 100 });
    watcher.on('error', () => {});
    await watcher.subscribe('+switch-master');
    watcher.on('message', () => {
      switchedAt = performance.timeOrigin + performance.now();
    });
  };
  await watch();

  return {
    db: 'redis',
    writerOptions: () => ({
      connect: { sentinels: sentinels.map(({ host, port }) => ({ host, port })), name: MASTER },
    }),
    ready,
    kill(node) {
      node.proc.kill('SIGKILL');
      switchedAt = undefined;
    },
    leader: () =>
      waitFor(
        'Sentinel to name a master that answers as one',
        async () => {
          const port = await masterPort();
          const info = String(await redisCall(port, 'INFO', 'replication'));
          return /role:master/.test(info) ? nodes.find((n) => n.port === port) : false;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      ),
    async verify({ before, after, acks }) {
      const lost = await missingKeys(after.port, acks);
      const failedOver = after !== before;
      const staleAcked =
        failedOver && switchedAt !== undefined
          ? acks.filter((a) => a.server === before.port && a.at >= switchedAt).length
          : 0;
      // The killed primary is down until reset: it can have taken no write after the switch.
      return { failedOver, lost, staleAcked, staleWal: undefined, inFlight: undefined };
    },
    async reset({ before, after }) {
      await before.proc.exited;
      startServer(before, after);
      await startSentinels(after);
      await ready();
      await watch();
    },
    async stop() {
      watcher?.disconnect();
    },
  };
}
