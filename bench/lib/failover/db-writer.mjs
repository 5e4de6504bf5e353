// The writer app of the failover benchmark and of the database proofs
// (test/databases/): one client that writes numbered records through one
// address for as long as it runs, counting every acknowledged write.
//
// Every attempt takes a fresh number, so a write whose outcome is unknown
// (the connection died before the answer) never collides with a later one;
// a record is "acknowledged" only when the server's answer came back. After
// an error the writer drops its connection, waits `retryDelayMs` and opens a
// new one, as an application's pool would: every path of the benchmark gets
// the same client behaviour, so the time from a kill to the first write
// measures the path, not the client.
//
// Each acknowledgement carries the server that took it (PostgreSQL:
// inet_server_port() of the backend, through any proxy; Redis: the server's
// own port from CLIENT INFO's laddr), which is what tells a write taken by a
// deposed primary from one taken by the new one.
//
// Errors are told apart by where they happened: `connect` (no connection was
// established: refused, reset before the handshake ended, timed out) and
// `query` (a write sent on an established connection failed). Each error
// keeps when its connection was opened, so a proof can check that only the
// connections open at the crash saw write errors.
import pg from 'pg';
import { Redis } from 'ioredis';

/** Wall-clock milliseconds with sub-millisecond precision (same clock as the servers' timestamps). */
export const wallMs = () => performance.timeOrigin + performance.now();

/** The table the PostgreSQL writer fills: its number, the server that took it, and the server's clock. */
export const PG_TABLE_SQL =
  'CREATE TABLE IF NOT EXISTS failover_writes (n bigint PRIMARY KEY, server_port int NOT NULL DEFAULT inet_server_port(), at timestamptz NOT NULL DEFAULT clock_timestamp())';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What both writers share: the loop, the counters and the records of acknowledgements and errors. */
class Writer {
  /** @type {{ n: number, at: number, startedAt: number, server: number | undefined }[]} */
  acks = [];
  /** @type {{ n: number | undefined, at: number, kind: 'connect' | 'query', message: string, connOpenedAt: number | undefined }[]} */
  errors = [];
  #next;
  #running = false;
  #loop;
  #now;
  #retryDelayMs;

  constructor({ firstNumber = 1, retryDelayMs = 20, now = wallMs } = {}) {
    this.#next = firstNumber;
    this.#retryDelayMs = retryDelayMs;
    this.#now = now;
  }

  /** Starts writing in the background; {@link stop} ends it. */
  start() {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after the write in flight (bounded by the client's timeouts) and closes the connection. */
  async stop() {
    this.#running = false;
    await this.#loop;
    await this.close();
  }

  /** The first acknowledgement of a write that began at or after `t` (wall ms), or undefined. */
  firstAckAfter(t) {
    return this.acks.find((a) => a.startedAt >= t);
  }

  /** The next number the writer would use (every number below it was tried at most once). */
  get nextNumber() {
    return this.#next;
  }

  async #run() {
    while (this.#running) {
      if (!this.connected()) {
        const t = this.#now();
        try {
          await this.connect();
        } catch (e) {
          this.errors.push({ n: undefined, at: this.#now(), kind: 'connect', message: messageOf(e), connOpenedAt: t });
          await this.close();
          await sleep(this.#retryDelayMs);
          continue;
        }
      }
      const n = this.#next++;
      const startedAt = this.#now();
      try {
        const server = await this.write(n);
        this.acks.push({ n, at: this.#now(), startedAt, server });
      } catch (e) {
        this.errors.push({ n, at: this.#now(), kind: 'query', message: messageOf(e), connOpenedAt: this.openedAt });
        await this.close();
        await sleep(this.#retryDelayMs);
      }
    }
  }
}

function messageOf(e) {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The PostgreSQL writer: `INSERT INTO failover_writes (n)` in autocommit
 * (one transaction per row), through `host:port` (a server, HAProxy or an
 * agent's local port). The table must exist (see {@link PG_TABLE_SQL}).
 */
export class PgWriter extends Writer {
  #client;
  #options;
  openedAt;

  /**
   * @param {{ host: string, port: number, user?: string, database?: string, password?: string,
   *   connectTimeoutMs?: number, queryTimeoutMs?: number, retryDelayMs?: number, firstNumber?: number }} options
   */
  constructor(options) {
    super(options);
    this.#options = options;
  }

  connected() {
    return this.#client !== undefined;
  }

  async connect() {
    const o = this.#options;
    const client = new pg.Client({
      host: o.host,
      port: o.port,
      user: o.user ?? 'postgres',
      database: o.database ?? 'postgres',
      password: o.password,
      connectionTimeoutMillis: o.connectTimeoutMs ?? 1000,
      query_timeout: o.queryTimeoutMs ?? 2000,
    });
    client.on('error', () => {}); // a dead connection is seen by the next query
    this.#client = client;
    await client.connect();
    this.openedAt = wallMs();
  }

  async write(n) {
    const r = await this.#client.query('INSERT INTO failover_writes (n) VALUES ($1) RETURNING server_port', [n]);
    return r.rows[0]?.server_port;
  }

  async close() {
    const c = this.#client;
    this.#client = undefined;
    this.openedAt = undefined;
    if (c) await Promise.race([c.end().catch(() => {}), sleep(500)]);
  }
}

/**
 * The Redis writer: `SET w:<n> <n>` (and CLIENT INFO in the same pipeline,
 * for the server's port). `connect` is either `{ host, port }` (one fixed
 * address: a server or an agent's local port) or `{ sentinels, name }`: the
 * Sentinel-aware ioredis client, which asks the Sentinels for the master on
 * every (re)connection, the way Sentinel is meant to be used.
 */
export class RedisWriter extends Writer {
  #client;
  #options;
  openedAt;

  /** @param {{ connect: { host: string, port: number } | { sentinels: { host: string, port: number }[], name: string }, commandTimeoutMs?: number, retryDelayMs?: number, firstNumber?: number }} options */
  constructor(options) {
    super(options);
    this.#options = options;
  }

  connected() {
    return this.#client !== undefined;
  }

  async connect() {
    const o = this.#options;
    const client = new Redis({
      ...o.connect,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // The writer reconnects itself (a new client per connection), as the PostgreSQL writer does.
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      connectTimeout: o.connectTimeoutMs ?? 1000,
      commandTimeout: o.commandTimeoutMs ?? 2000,
    });
    client.on('error', () => {});
    this.#client = client;
    await client.connect();
    this.openedAt = wallMs();
  }

  async write(n) {
    const results = await this.#client.pipeline().set(`w:${n}`, String(n)).client('INFO').exec();
    const [setErr] = results?.[0] ?? [new Error('no reply')];
    if (setErr) throw setErr;
    const info = results?.[1]?.[1];
    const m = typeof info === 'string' ? /laddr=\S*:(\d+)/.exec(info) : null;
    return m ? Number(m[1]) : undefined;
  }

  async close() {
    const c = this.#client;
    this.#client = undefined;
    this.openedAt = undefined;
    c?.disconnect();
  }
}
