// PostgreSQL pieces the failover benchmark needs around servers it did not
// start itself (Patroni starts them): running programs as the `postgres`
// user, the kill, queries, and the reading of a deposed primary's WAL.
//
// The kill is the one every path gets: SIGKILL to the postmaster and to
// every backend at once, as a crash of the host's postgres (the backends of a
// SIGKILLed postmaster would otherwise linger until their next wait).
//
// Stale writes are read from the WAL, not asked of the server: the new
// primary's timeline history file names the point where its timeline forked
// from the old one (the last WAL it had from the old primary) and its mtime
// is when the promotion happened; pg_waldump then lists every transaction
// the deposed primary committed on the old timeline past the fork. A commit
// there with a commit time after the promotion is a write the old primary
// took after the new term began (stale); one before it was in flight at the
// crash (written to the old primary's WAL, never acknowledged: a synchronous
// commit waits for the standby).
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 binaries. */
export const PG_BIN = process.env.MESHLET_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** PostgreSQL refuses to run as root: its programs run as this user. */
export const PG_OS_USER = process.env.MESHLET_PG_USER ?? 'postgres';

/** `[command, args]` running `program` (a path, or a name in {@link PG_BIN}) as {@link PG_OS_USER}; setpriv execs, so the pid is the program's. */
export function asPostgres(program, args) {
  const file = program.includes('/') ? program : join(PG_BIN, program);
  return ['setpriv', ['--reuid', PG_OS_USER, '--regid', PG_OS_USER, '--init-groups', '--', file, ...args]];
}

/** The uid and gid of {@link PG_OS_USER}, from /etc/passwd. */
export function postgresIds() {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${PG_OS_USER}:`));
  if (!line) throw new Error(`user ${PG_OS_USER} is missing: Debian's postgresql-15 package creates it`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** A fresh directory under `parent` (default: the system's temporary dir) owned by {@link PG_OS_USER}. */
export function postgresOwnedDir(prefix, parent = tmpdir()) {
  const dir = mkdtempSync(join(parent, prefix));
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);
  return dir;
}

/** Throws naming the package when PostgreSQL 15 is not installed. */
export function requirePostgres() {
  if (!existsSync(join(PG_BIN, 'postgres'))) {
    throw new Error(`${PG_BIN}/postgres is missing: install Debian's postgresql-15 (apt-get install postgresql-15)`);
  }
}

/** Runs one statement on a fresh connection and returns its rows. */
export async function pgQuery({ host = '127.0.0.1', port, password }, sql, params = []) {
  const client = new pg.Client({
    host,
    port,
    user: 'postgres',
    database: 'postgres',
    password,
    connectionTimeoutMillis: 3000,
    query_timeout: 10_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(sql, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The postmaster's pid from `dataDir/postmaster.pid`, or undefined when the server is down. */
export function postmasterPid(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function childrenOf(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * SIGKILL to the postmaster of `dataDir` and its backends, at once. Returns
 * the postmaster's pid; throws if no server runs there.
 */
export function killPostgres(dataDir) {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) throw new Error(`no postmaster runs on ${dataDir}`);
  const backends = childrenOf(pid);
  for (const p of [pid, ...backends]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pid;
}

/**
 * Where the newest timeline of `dataDir` (a promoted server) forked: reads
 * its highest `pg_wal/*.history` file. Returns `{ timeline, parentTimeline,
 * forkLsn, promotedAt }` (promotedAt: the file's mtime, wall ms), or
 * undefined when the server was never promoted.
 */
export function timelineFork(dataDir) {
  const dir = join(dataDir, 'pg_wal');
  const files = readdirSync(dir)
    .filter((f) => /^[0-9A-F]{8}\.history$/.test(f))
    .sort();
  const last = files.at(-1);
  if (!last) return undefined;
  const lines = readFileSync(join(dir, last), 'utf8')
    .split('\n')
    .filter((l) => /^\d+\s/.test(l));
  const [parent, lsn] = (lines.at(-1) ?? '').split(/\s+/);
  return {
    timeline: parseInt(last.slice(0, 8), 16),
    parentTimeline: Number(parent),
    forkLsn: lsn,
    promotedAt: statSync(join(dir, last)).mtimeMs,
  };
}

/**
 * The transactions `dataDir` committed on `timeline` past `fromLsn`, read
 * with pg_waldump (run as the postgres user; the server may be down or
 * running). Returns their commit times (wall ms).
 */
export async function commitsAfter(dataDir, timeline, fromLsn) {
  const [command, args] = asPostgres('pg_waldump', [
    '--path',
    join(dataDir, 'pg_wal'),
    '--timeline',
    String(timeline),
    '--start',
    fromLsn,
    '--rmgr',
    'Transaction',
  ]);
  let text;
  try {
    text = (
      await run(command, args, {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
        timeout: 60_000,
        env: { ...process.env, TZ: 'UTC' },
      })
    ).stdout;
  } catch (e) {
    // pg_waldump exits 1 at the end of the WAL ("invalid record length"), having printed every record before it.
    text = e.stdout ?? '';
    if (!/invalid record|could not find|end of WAL|No such file/i.test(`${e.stderr}`) && text === '') {
      if (/could not find file/i.test(`${e.stderr}`)) return [];
      throw new Error(`pg_waldump on ${dataDir} failed: ${e.stderr ?? e.message}`, { cause: e });
    }
  }
  const out = [];
  for (const m of text.matchAll(/desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (\S+)/g)) {
    const iso = `${m[1].replace(' ', 'T')}${m[2] === 'UTC' ? 'Z' : ''}`;
    out.push(Date.parse(iso));
  }
  return out;
}
