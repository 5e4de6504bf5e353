import type { Client } from 'pg';
import type { HealthCheck, ProbeResult } from './health-check.js';
import { probeWithin } from './probe-within.js';

/**
 * One query answers both questions: whether the server is in recovery (a
 * standby) and how far its WAL has got, in bytes from 0/0. A primary's is
 * the WAL it has written (`pg_current_wal_lsn()`), a standby's what it has
 * received (`pg_last_wal_receive_lsn()`, which is what a synchronous commit
 * waited for), or, before it has received anything since its start, what
 * it has replayed.
 */
export const POSTGRES_CHECK_SQL = `SELECT pg_is_in_recovery() AS standby,
  CASE WHEN pg_is_in_recovery()
    THEN pg_wal_lsn_diff(coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), '0/0')
    ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END AS wal_offset`;

/** Where and as whom a {@link PostgresHealthCheck} connects. */
export interface PostgresCheckTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** From the environment variable `passwordEnv` names; never logged nor put in a probe's detail. */
  password?: string | undefined;
}

type PgModule = typeof import('pg');

/**
 * Connects to the app (PostgreSQL) with node-postgres and asks
 * `pg_is_in_recovery()` and its WAL position ({@link POSTGRES_CHECK_SQL}):
 * not in recovery → `primary`, in recovery → `replica`, the position as the
 * replication offset. One connection is kept between probes (as a pooler's
 * health check does, so a probe costs one round trip, not a backend start)
 * and opened anew after any error or timeout. Both the client's wait and
 * the server's `statement_timeout` are the check's timeout. `pg` is loaded
 * on the first probe, so agents without this check never load it.
 */
export class PostgresHealthCheck implements HealthCheck {
  readonly #target: PostgresCheckTarget;
  readonly #timeoutMs: number;
  #client: Client | undefined;
  #closed = false;

  constructor(target: PostgresCheckTarget, timeoutMs: number) {
    this.#target = target;
    this.#timeoutMs = timeoutMs;
  }

  async probe(): Promise<ProbeResult> {
    const what = `postgres ${this.#target.user}@${this.#target.host}:${this.#target.port}/${this.#target.database}`;
    return probeWithin(
      what,
      this.#timeoutMs,
      () => this.#query(),
      (row) => {
        const offset = row.wal_offset === null ? undefined : Number(row.wal_offset);
        const replicationOffset =
          offset !== undefined && Number.isSafeInteger(offset) && offset >= 0 ? offset : undefined;
        const role = row.standby ? 'replica' : 'primary';
        return {
          ok: true,
          role,
          replicationOffset,
          detail: `${what}: ${role === 'replica' ? 'in recovery (replica)' : 'primary'}, WAL at ${replicationOffset ?? 'unknown'}`,
        };
      },
      () => this.#drop(),
    );
  }

  close(): void {
    this.#closed = true;
    this.#drop();
  }

  async #query(): Promise<{ standby: boolean; wal_offset: string | null }> {
    const client = this.#client ?? (await this.#connect());
    const result = await client.query<{ standby: boolean; wal_offset: string | null }>(POSTGRES_CHECK_SQL);
    const row = result.rows[0];
    if (!row) throw new Error('the check query returned no row');
    return row;
  }

  async #connect(): Promise<Client> {
    const mod = (await import('pg')) as PgModule & { default?: PgModule };
    const pg = mod.default ?? mod;
    const t = this.#target;
    const client = new pg.Client({
      host: t.host,
      port: t.port,
      user: t.user,
      database: t.database,
      password: t.password,
      application_name: 'meshlet-health-check',
      connectionTimeoutMillis: this.#timeoutMs,
      statement_timeout: this.#timeoutMs,
      query_timeout: this.#timeoutMs,
    });
    // A connection that breaks between probes: dropped, the next probe connects anew.
    client.on('error', () => {
      if (this.#client === client) this.#client = undefined;
    });
    this.#client = client;
    try {
      await client.connect();
    } catch (e) {
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      throw e;
    }
    if (this.#closed) {
      this.#drop();
      throw new Error('the check was stopped');
    }
    return client;
  }

  #drop(): void {
    const client = this.#client;
    this.#client = undefined;
    client?.end().catch(() => undefined);
  }
}
