// Redis 7 servers for the failover benchmark's Redis paths (Sentinel and
// meshlet): redis-server on loopback without persistence (`--save ''
// --appendonly no`, as the tests' harness test/harness/redis.ts), started in
// the run's process group, a primary or a replica of another (`--replicaof`;
// a deposed primary rejoins as a new process started that way), and one
// command on a fresh connection.
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { waitFor } from '@meshlet/test-harness/wait';
import { findBinary } from '../system-proxies.mjs';

/** One command on a fresh connection to `port` on loopback; its reply. */
export async function redisCall(port, ...args) {
  const c = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => {});
  await c.connect();
  try {
    return await c.call(...args);
  } finally {
    c.disconnect();
  }
}

/** Whether the server on `port` answers `ROLE` as a master. */
export async function isRedisMaster(port) {
  return (await redisCall(port, 'ROLE'))[0] === 'master';
}

/**
 * Two redis-servers in `ctx` ({ group, dir }): `r1` the primary, `r2` its
 * replica (each { name, port, proc }); `start(node, replicaOf?)` starts a
 * node's server again (as a replica of `replicaOf`). Waits for r1 to answer.
 */
export async function startRedisPair({ group, dir }) {
  const server = findBinary('redis-server');
  if (!server) throw new Error('redis-server is not installed: apt-get install redis-server');
  const nodes = [];
  for (const name of ['r1', 'r2']) nodes.push({ name, host: '127.0.0.1', port: await getPort() });
  const start = (node, replicaOf) => {
    const args = ['--port', String(node.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    args.push('--protected-mode', 'no', '--repl-diskless-sync-delay', '0');
    if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf.port));
    node.proc = group.start(`redis ${node.name}`, server, args);
  };
  start(nodes[0]);
  await waitFor('redis r1', async () => (await redisCall(nodes[0].port, 'PING')) === 'PONG', { intervalMs: 100 });
  start(nodes[1], nodes[0]);
  return { nodes, start };
}

/** How many of `acks` (writes `w:<n>`) the server on `port` does not hold. */
export async function missingKeys(port, acks) {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  c.on('error', () => {});
  await c.connect();
  let lost = 0;
  try {
    for (let i = 0; i < acks.length; i += 1000) {
      const chunk = acks.slice(i, i + 1000);
      const values = await c.mget(...chunk.map((a) => `w:${a.n}`));
      lost += values.filter((v) => v === null).length;
    }
  } finally {
    c.disconnect();
  }
  return lost;
}
