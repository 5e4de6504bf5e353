// The meshlet path for Redis: a Redis 7 primary and its replica
// (redis-pair.mjs), an agent beside each (redis check: `ROLE`;
// instance.failover promote `redis-cli -p PORT REPLICAOF NO ONE`, as
// test/databases/redis-failover.test.ts), a control plane with the policy
// `{ protocol: tcp, failover: { mode: managed } }`, and the writer's own
// agent, whose upstream port (role primary) is the writer's one address
// (meshlet-managed.mjs, shared with the PostgreSQL path).
//
// Settings: those of the PostgreSQL meshlet path (MESHLET_SETTINGS):
// defaults = every meshlet default; tuned = the check every 200 ms (timeout
// 200 ms), leaseMs 1000.
//
// Redis replicates asynchronously: a write the primary acknowledged and had
// not yet sent to the replica when it was killed is lost; the run counts
// them (as on the Sentinel path). A write is stale when the deposed server
// acknowledged it after the new term began (the control plane's first
// `primary` event naming the new primary after the kill). The killed server
// rejoins as a new process started with `--replicaof` the new primary; no
// demote or rejoin command is configured.
import { findBinary } from '../system-proxies.mjs';
import { startManagedMeshlet } from './meshlet-managed.mjs';
import { isRedisMaster, missingKeys, redisCall, startRedisPair } from './redis-pair.mjs';
import { wallMs } from './db-writer.mjs';

/** Instance id of a Redis node (`r1` → `redis-1`). */
const idOf = (node) => node.name.replace('r', 'redis-');

/** The meshlet Redis path with `settings` ('defaults' or 'tuned') in `ctx` ({ group, dir, log }). */
export async function meshletRedisPath(ctx, settings) {
  const cli = findBinary('redis-cli');
  if (!cli) throw new Error('redis-cli is not installed: apt-get install redis-tools');
  const { nodes, start } = await startRedisPair(ctx);
  const mesh = await startManagedMeshlet(ctx, {
    service: 'cache',
    settings,
    nodes,
    idOf,
    first: nodes[0],
    isPrimary: (n) => isRedisMaster(n.port),
    probe: async ({ port }) => {
      if ((await redisCall(port, 'PING')) !== 'PONG')
        throw new Error('PING through the writer port did not answer PONG');
    },
    label: `meshlet-redis-${settings}`,
    instance: (node, check) => ({
      service: 'cache',
      id: idOf(node),
      app: { host: '127.0.0.1', port: node.port },
      healthCheck: { kind: 'redis', ...check },
      failover: { priority: 1, promote: { command: [cli, '-p', String(node.port), 'REPLICAOF', 'NO', 'ONE'] } },
    }),
  });
  let killedAt = 0;

  return {
    db: 'redis',
    writerOptions: () => ({ connect: { ...mesh.writerAddress } }),
    ready: mesh.ready,
    kill(node) {
      killedAt = wallMs();
      node.proc.kill('SIGKILL');
    },
    leader: mesh.leader,
    async verify({ before, after, acks }) {
      const lost = await missingKeys(after.port, acks);
      const failedOver = after !== before;
      if (!failedOver) return { failedOver, lost, staleAcked: 0, staleWal: undefined, inFlight: undefined };
      // The new term began at the control plane's first decision naming the new primary after the kill.
      const { events = [] } = await mesh.failoverState();
      const times = events.filter((e) => e.to === idOf(after) && e.time >= killedAt).map((e) => e.time);
      const termAt = times.length > 0 ? Math.min(...times) : killedAt;
      const staleAcked = acks.filter((a) => a.server === before.port && a.at >= termAt).length;
      return { failedOver, lost, staleAcked, staleWal: undefined, inFlight: undefined };
    },
    async reset({ before, after }) {
      if (before.proc.exitCode === null && before.proc.signalCode === null) before.proc.kill('SIGKILL');
      await before.proc.exited;
      start(before, after);
      await mesh.ready();
    },
    async stop() {},
  };
}
