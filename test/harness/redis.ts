import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

/** Debian's redis-server 7 (package `redis-server`, installed by `.ci/run`). */
export const REDIS_BIN = process.env.MESHLET_REDIS_BIN ?? '/usr/bin/redis-server';

/** One redis-server on loopback, without persistence (`--save '' --appendonly no`), in its own dir. */
export interface RedisInstance {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** The running server (a new one after {@link start}). */
  readonly proc: Proc;
  /** Runs one command on a fresh connection and returns its reply. */
  command(name: string, ...args: (string | number)[]): Promise<unknown>;
  /** `ROLE`'s first word: `master`, `slave` or `sentinel`. */
  role(): Promise<string>;
  /** Starts the server again on the same port (after {@link stop} or {@link kill}), with the arguments it started with. */
  start(): Promise<void>;
  /** SIGTERM: waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash: waits for the exit. */
  kill(): Promise<void>;
  /** Stops the server and removes its dir. */
  cleanup(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Fixed port; absent: a free one. */
  port?: number;
  name?: string;
  /** Starts it as a replica of this server (`--replicaof`) and waits until the link is up. */
  replicaOf?: { host: string; port: number };
  /** More arguments, such as `['--min-replicas-to-write', '1']`. */
  args?: string[];
  timeoutMs?: number;
}

/** Throws a message naming the package when redis-server is not installed. */
export function requireRedis(who = 'the database tests run'): void {
  if (!existsSync(REDIS_BIN)) {
    throw new Error(
      `${REDIS_BIN} is missing: ${who} a real Redis 7; install Debian's package with \`apt-get install redis-server\` (CI's .ci/run does)`,
    );
  }
}

/**
 * Starts a redis-server on loopback (a primary, or a replica of
 * `replicaOf`), without persistence, and waits until it answers (a
 * replica: until its link to the primary is up). The caller calls
 * `cleanup()` in afterAll.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisInstance> {
  requireRedis();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const port = options.port ?? (await getPort());
  const name = options.name ?? (options.replicaOf ? 'redis-replica' : 'redis-primary');
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--protected-mode',
    'no',
    // A replica's first sync starts at once rather than after Redis's 5 s wait for more replicas.
    '--repl-diskless-sync-delay',
    '0',
    ...(options.replicaOf ? ['--replicaof', options.replicaOf.host, String(options.replicaOf.port)] : []),
    ...(options.args ?? []),
  ];
  let proc = new Proc(name, REDIS_BIN, args);
  const self: RedisInstance = {
    name,
    host: '127.0.0.1',
    port,
    dir,
    get proc() {
      return proc;
    },
    async command(command, ...rest) {
      const client = new Redis({
        host: '127.0.0.1',
        port,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on('error', () => {});
      await client.connect();
      try {
        return await client.call(command, ...rest);
      } finally {
        client.disconnect();
      }
    },
    async role() {
      const reply = (await self.command('ROLE')) as unknown[];
      return String(reply[0]);
    },
    async start() {
      if (proc.running) return;
      proc = new Proc(name, REDIS_BIN, args);
      await ready();
    },
    async stop() {
      await proc.stop('SIGTERM');
    },
    async kill() {
      await proc.stop('SIGKILL');
    },
    async cleanup() {
      if (proc.running) await proc.stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const ready = () =>
    waitFor(
      `${name} answering on ${port}`,
      async () => {
        if (!proc.running) throw new Error(`${name} exited: ${proc.output.slice(-2000)}`);
        if (!options.replicaOf) return (await self.command('PING')) === 'PONG';
        const info = String(await self.command('INFO', 'replication'));
        return /master_link_status:up/.test(info);
      },
      { timeoutMs, intervalMs: 100 },
    );
  try {
    await ready();
  } catch (e) {
    await self.cleanup();
    throw e;
  }
  return self;
}
