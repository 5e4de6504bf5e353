// Types of pg-util.mjs, for the database proofs (test/databases/).
import type { TimelineFork } from './meshlet-path.mjs';

/** Runs one statement on a fresh connection (user postgres, database postgres) and returns its rows. */
export declare function pgQuery(
  target: { host?: string; port: number; password?: string },
  sql: string,
  params?: unknown[],
): Promise<Record<string, unknown>[]>;
/** Where the newest timeline of a promoted server's data dir forked, and when; undefined if never promoted. */
export declare function timelineFork(dataDir: string): TimelineFork | undefined;
/** Commit times (wall ms) of the transactions `dataDir` committed on `timeline` past `fromLsn` (pg_waldump). */
export declare function commitsAfter(dataDir: string, timeline: number, fromLsn: string): Promise<number[]>;
/** SIGKILL to the postmaster of `dataDir` and its backends; returns the postmaster's pid. */
export declare function killPostgres(dataDir: string): number;
