// Types of db-writer.mjs, for the TypeScript tests that share the writer (test/databases/).

/** Wall-clock milliseconds with sub-millisecond precision. */
export declare const wallMs: () => number;
/** The table the PostgreSQL writer fills. */
export declare const PG_TABLE_SQL: string;

/** One acknowledged write: its number, when it was acknowledged and begun (wall ms), the server's port. */
export interface WriterAck {
  n: number;
  at: number;
  startedAt: number;
  server: number | undefined;
}
/** One failed attempt: `connect` (no connection was established) or `query` (a write on an open connection failed). */
export interface WriterError {
  n: number | undefined;
  at: number;
  kind: 'connect' | 'query';
  message: string;
  /** When the connection the error happened on was opened (for `connect`: when the attempt began). */
  connOpenedAt: number | undefined;
}

declare class Writer {
  acks: WriterAck[];
  errors: WriterError[];
  start(): void;
  stop(): Promise<void>;
  firstAckAfter(t: number): WriterAck | undefined;
  readonly nextNumber: number;
}

/** The PostgreSQL writer: one INSERT per transaction through `host:port`. */
export declare class PgWriter extends Writer {
  constructor(options: {
    host: string;
    port: number;
    user?: string;
    database?: string;
    password?: string;
    connectTimeoutMs?: number;
    queryTimeoutMs?: number;
    retryDelayMs?: number;
    firstNumber?: number;
  });
}

/** The Redis writer: SET w:<n> through one address or through the Sentinels. */
export declare class RedisWriter extends Writer {
  constructor(options: {
    connect: { host: string; port: number } | { sentinels: { host: string; port: number }[]; name: string };
    connectTimeoutMs?: number;
    commandTimeoutMs?: number;
    retryDelayMs?: number;
    firstNumber?: number;
  });
}
