import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import getPort from 'get-port';
import pg from 'pg';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 binaries (package `postgresql-15`, installed by `.ci/run`). */
export const PG_BIN = process.env.MESHLET_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** The operating-system user the servers run as: PostgreSQL refuses to run as root. */
export const PG_OS_USER = process.env.MESHLET_PG_USER ?? 'postgres';

/** One PostgreSQL server on loopback, run as {@link PG_OS_USER} with its own data dir. */
export interface PostgresInstance {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** The superuser's password; absent: trust authentication. */
  readonly password?: string | undefined;
  /** The running postmaster (a new one after {@link start}). */
  readonly proc: Proc;
  /** Runs one statement on a fresh connection (as `postgres` to database `postgres`) and returns its rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** True while the server answers (pg_is_in_recovery() false: a primary). */
  isPrimary(): Promise<boolean>;
  /** Starts the server again on the same port and data dir (after {@link stop} or {@link kill}); waits until it answers. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT): waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend, as a crash of the host's postgres: waits until all are gone. */
  kill(): Promise<void>;
  /** `pg_ctl promote` (a standby becomes a primary); waits until it accepts writes. */
  promote(): Promise<void>;
  /** Stops the server (SIGKILL if it does not stop) and removes its data dir. */
  cleanup(): Promise<void>;
}

/** Options of {@link startPostgresPrimary}. */
export interface PostgresPrimaryOptions {
  /** Fixed port; absent: a free one. */
  port?: number;
  name?: string;
  /** `synchronous_standby_names`, such as `'standby1'` or `'FIRST 1 (standby1, standby2)'`; absent: asynchronous. */
  synchronousStandbyNames?: string;
  /** A password for the `postgres` superuser: loopback TCP connections then need it (scram-sha-256). */
  password?: string;
  /** More server settings, each passed as `-c name=value` (they stay this server's, a standby does not copy them). */
  settings?: Record<string, string>;
  /** How long start-up may take. */
  timeoutMs?: number;
}

/** Options of {@link startPostgresStandby}. */
export interface PostgresStandbyOptions {
  port?: number;
  /** Its `application_name` to the primary (what `synchronous_standby_names` lists); default `standby`. */
  name?: string;
  settings?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Throws a message naming the package when PostgreSQL 15 is not installed:
 * the tests and the benchmarks run a real server, never a mock.
 */
export function requirePostgres(who = 'the database tests run'): void {
  if (!existsSync(join(PG_BIN, 'postgres'))) {
    throw new Error(
      `${PG_BIN}/postgres is missing: ${who} a real PostgreSQL 15; install Debian's package with \`apt-get install postgresql-15\` (CI's .ci/run does)`,
    );
  }
}

/** Runs a PostgreSQL program as {@link PG_OS_USER} (setpriv execs, so a spawned server's pid is the postmaster's). */
function asPostgres(program: string, args: readonly string[]): [string, string[]] {
  return [
    'setpriv',
    ['--reuid', PG_OS_USER, '--regid', PG_OS_USER, '--init-groups', '--', join(PG_BIN, program), ...args],
  ];
}

async function runAsPostgres(program: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const [command, full] = asPostgres(program, args);
  try {
    const { stdout } = await run(command, full, { timeout: timeoutMs, encoding: 'utf8' });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${err.message} ${err.stderr ?? ''} ${err.stdout ?? ''}`, {
      cause: e,
    });
  }
}

/** A fresh directory under the system's temporary dir, owned by {@link PG_OS_USER} (mode 0700). */
function ownedTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chownSync(dir, osId('-u'), osId('-g'));
  return dir;
}

let ids: { u: number; g: number } | undefined;
function osId(which: '-u' | '-g'): number {
  if (!ids) {
    const passwd = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${PG_OS_USER}:`));
    if (!passwd) throw new Error(`user ${PG_OS_USER} is missing: the postgresql package creates it`);
    const [, , u, g] = passwd.split(':');
    ids = { u: Number(u), g: Number(g) };
  }
  return which === '-u' ? ids.u : ids.g;
}

/** The process ids of `pid`'s children (the backends of a postmaster). */
async function childrenOf(pid: number): Promise<number[]> {
  try {
    const { stdout } = await run('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function gone(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

function instance(
  name: string,
  port: number,
  scratch: string,
  dataDir: string,
  password: string | undefined,
  serverArgs: string[],
  timeoutMs: number,
): PostgresInstance & { ready(): Promise<void> } {
  const spawnServer = () => {
    const [command, args] = asPostgres('postgres', ['-D', dataDir, ...serverArgs]);
    return new Proc(name, command, args);
  };
  let proc = spawnServer();
  const self = {
    name,
    host: '127.0.0.1',
    port,
    dataDir,
    password,
    get proc() {
      return proc;
    },
    async query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: 'postgres',
        database: 'postgres',
        password,
        connectionTimeoutMillis: 5_000,
      });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query<R>(sql, params)).rows;
      } finally {
        await client.end().catch(() => {});
      }
    },
    async isPrimary() {
      const [row] = await self.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      return row?.r === false;
    },
    async ready() {
      // A server that exits (a bad setting) fails at once, with its log, rather than at the deadline.
      const running = proc;
      let stop = false;
      const exited = running.exited().then(() => {
        if (!stop) throw new Error(`${name} exited: ${running.output.slice(-2000)}`);
      });
      try {
        await Promise.race([
          exited,
          waitFor(
            `${name} accepting connections on ${port}`,
            async () => {
              if (!running.running) return false;
              await self.query('SELECT 1');
              return true;
            },
            { timeoutMs, intervalMs: 100 },
          ),
        ]);
      } finally {
        stop = true;
      }
    },
    async start() {
      if (proc.running) return;
      proc = spawnServer();
      await self.ready();
    },
    async stop() {
      await proc.stop('SIGINT', 15_000);
    },
    async kill() {
      const pid = proc.pid;
      const backends = await childrenOf(pid);
      await proc.stop('SIGKILL');
      for (const b of backends) {
        try {
          process.kill(b, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitFor(`${name}'s backends gone`, () => backends.every(gone), { timeoutMs: 10_000 });
    },
    async promote() {
      await runAsPostgres('pg_ctl', ['promote', '-D', dataDir, '-w', '-t', String(Math.ceil(timeoutMs / 1000))]);
      await waitFor(`${name} promoted`, () => self.isPrimary(), { timeoutMs });
    },
    async cleanup() {
      if (proc.running) await proc.stop('SIGINT', 10_000);
      rmSync(scratch, { recursive: true, force: true });
    },
  };
  return self;
}

function settingArgs(port: number, settings: Record<string, string>): string[] {
  const all: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    fsync: 'on',
    ...settings,
  };
  return ['-p', String(port), ...Object.entries(all).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
}

/**
 * Creates a cluster with `initdb` in a fresh data dir (owned by the
 * `postgres` user) and starts it on loopback, ready for streaming
 * replication (`wal_level replica`, loopback replication connections
 * allowed); waits until it answers. The caller calls `cleanup()` in afterAll.
 */
export async function startPostgresPrimary(options: PostgresPrimaryOptions = {}): Promise<PostgresInstance> {
  requirePostgres();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const name = options.name ?? 'pg-primary';
  const port = options.port ?? (await getPort());
  const scratch = ownedTempDir('meshlet-pg-');
  const dataDir = join(scratch, 'data');
  const initArgs = ['-D', dataDir, '-U', 'postgres', '--no-locale', '-E', 'UTF8', '--auth-local=trust'];
  if (options.password !== undefined) {
    const pwfile = join(scratch, 'pwfile');
    writeFileSync(pwfile, `${options.password}\n`, { mode: 0o600 });
    chownSync(pwfile, osId('-u'), osId('-g'));
    initArgs.push('--auth-host=scram-sha-256', `--pwfile=${pwfile}`);
  } else {
    initArgs.push('--auth-host=trust');
  }
  await runAsPostgres('initdb', initArgs);
  const settings: Record<string, string> = {
    wal_level: 'replica',
    max_wal_senders: '10',
    wal_keep_size: '256MB',
    ...(options.synchronousStandbyNames !== undefined
      ? { synchronous_standby_names: options.synchronousStandbyNames }
      : {}),
    ...options.settings,
  };
  const server = instance(name, port, scratch, dataDir, options.password, settingArgs(port, settings), timeoutMs);
  try {
    await server.ready();
  } catch (e) {
    await server.cleanup();
    throw e;
  }
  return server;
}

/**
 * Copies `primary` with `pg_basebackup` into a fresh data dir and starts it
 * as a hot standby streaming from it (`standby.signal`, `primary_conninfo`
 * with `application_name` = `name`, the one `synchronous_standby_names`
 * names); waits until it answers and streams.
 */
export async function startPostgresStandby(
  primary: PostgresInstance,
  options: PostgresStandbyOptions = {},
): Promise<PostgresInstance> {
  requirePostgres();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const name = options.name ?? 'standby';
  const port = options.port ?? (await getPort());
  const scratch = ownedTempDir('meshlet-pg-');
  const dataDir = join(scratch, 'data');
  const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres application_name=${name}${
    primary.password !== undefined ? ` password=${primary.password}` : ''
  }`;
  const [command, args] = asPostgres('pg_basebackup', ['-d', conninfo, '-D', dataDir, '-X', 'stream', '-c', 'fast']);
  await run(command, args, { timeout: timeoutMs }).catch((e: Error & { stderr?: string }) => {
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`pg_basebackup from ${primary.name} failed: ${e.message} ${e.stderr ?? ''}`, { cause: e });
  });
  appendFileSync(join(dataDir, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo.replace(/'/g, "''")}'\n`);
  writeFileSync(join(dataDir, 'standby.signal'), '');
  chownSync(join(dataDir, 'standby.signal'), osId('-u'), osId('-g'));
  const settings = { hot_standby: 'on', wal_level: 'replica', max_wal_senders: '10', ...options.settings };
  const server = instance(name, port, scratch, dataDir, primary.password, settingArgs(port, settings), timeoutMs);
  try {
    await server.ready();
    await waitFor(
      `${name} streaming from ${primary.name}`,
      async () =>
        (
          await primary.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
            [name],
          )
        )[0]?.n !== '0',
      { timeoutMs },
    );
  } catch (e) {
    await server.cleanup();
    throw e;
  }
  return server;
}
