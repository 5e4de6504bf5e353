/**
 * Errors of `@meshlet/shared`. Every error carries a stable `MESHLET_*` code,
 * listed in `docs/errors.md`; the message tells the operator what to do.
 */

/** Stable codes of the errors raised by `@meshlet/shared`. */
export const SharedErrorCodes = {
  /** A config file could not be read or parsed as YAML. */
  CONFIG_UNREADABLE: 'MESHLET_CONFIG_UNREADABLE',
  /** A config file, variable or flag failed validation. */
  CONFIG_INVALID: 'MESHLET_CONFIG_INVALID',
  /** A stream message was not valid JSON. */
  PROTOCOL_INVALID_JSON: 'MESHLET_PROTOCOL_INVALID_JSON',
  /** A stream message had a `type` this peer does not know. */
  PROTOCOL_UNKNOWN_TYPE: 'MESHLET_PROTOCOL_UNKNOWN_TYPE',
  /** A stream message did not match its schema. */
  PROTOCOL_SCHEMA: 'MESHLET_PROTOCOL_SCHEMA',
  /** A stream message was larger than the configured limit. */
  PROTOCOL_TOO_LARGE: 'MESHLET_PROTOCOL_TOO_LARGE',
  /** The peer speaks another protocol version. */
  PROTOCOL_VERSION_MISMATCH: 'MESHLET_PROTOCOL_VERSION_MISMATCH',
  /** A delta routing table was built on a version the agent does not hold; the control plane sends a full table. */
  DELTA_BASE_MISMATCH: 'MESHLET_DELTA_BASE_MISMATCH',
  /** A persisted JSON file could not be read back. */
  FILE_CORRUPT: 'MESHLET_FILE_CORRUPT',
  /** A SPIFFE ID or trust domain breaks the rules (`spiffe://<trustDomain>/svc/<service>`). */
  SPIFFE_ID_INVALID: 'MESHLET_SPIFFE_ID_INVALID',
  /** A peer's certificate chain does not prove the identity expected of it (untrusted, expired, no or wrong SPIFFE ID). */
  PEER_IDENTITY_REFUSED: 'MESHLET_PEER_IDENTITY_REFUSED',
  /** A listener refused a connection: it, or the caller's address, has as many connections open as its limits allow. */
  CONNECTION_LIMIT: 'MESHLET_CONNECTION_LIMIT',
  /** A request's line and headers are over the HTTP parser's limit (node's `--max-http-header-size`, 16 KiB by default). */
  HEADERS_TOO_LARGE: 'MESHLET_HEADERS_TOO_LARGE',
  /** A routing table or policy exceeds the table budget (services, endpoints or hash-table entries); nothing is built. */
  TABLE_OVER_BUDGET: 'MESHLET_TABLE_OVER_BUDGET',
  /** An app asked for a lock (or leadership) that someone else holds. */
  LOCK_HELD: 'MESHLET_LOCK_HELD',
  /** An app renewed or released a lock (or term) it no longer holds: its token is not the holder's. */
  LOCK_NOT_HELD: 'MESHLET_LOCK_NOT_HELD',
  /** A coordination request the control plane will not serve: the agent has no service, or the store cannot be reached. */
  COORDINATION_REFUSED: 'MESHLET_COORDINATION_REFUSED',
  /** The agent cannot reach the control plane (or had no answer in time): no lock is granted or renewed from a cache. */
  COORDINATION_UNAVAILABLE: 'MESHLET_COORDINATION_UNAVAILABLE',
} as const;

/** One of {@link SharedErrorCodes}. */
export type SharedErrorCode = (typeof SharedErrorCodes)[keyof typeof SharedErrorCodes];

/**
 * A stable error code. Each package types its own codes as a union of
 * literals (`SharedErrorCode`, `ControlPlaneErrorCode`, `AgentErrorCode`,
 * meshctl's `CliErrorCode`); this is the shape they share, since this
 * package may import none of them.
 */
export type MeshletErrorCode = `MESHLET_${string}`;

/** Base class of every meshlet error: a stable code, an actionable message, the cause kept. */
export class MeshletError extends Error {
  /** Stable `MESHLET_*` code, documented in `docs/errors.md`. */
  readonly code: MeshletErrorCode;

  constructor(code: MeshletErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MeshletError';
    this.code = code;
  }
}

/** Options of one {@link MeshletHttpError}. */
export interface HttpErrorOptions {
  cause?: unknown;
  /**
   * Another status than the one bound to the code, for the few answers that
   * pass a status through (fastify's own 4xx, a fault injection's configured
   * status); `docs/errors.md` says where.
   */
  statusCode?: number;
}

/**
 * A {@link MeshletError} answered over HTTP: `statusCode` is the one bound to
 * its code by {@link defineHttpError} (fastify reads the same property).
 */
export class MeshletHttpError extends MeshletError {
  /** The HTTP status of the answer. */
  readonly statusCode: number;

  constructor(code: MeshletErrorCode, statusCode: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'MeshletHttpError';
    this.statusCode = statusCode;
  }
}

/** Makes the errors of one code, answered with the status bound to it. */
export interface HttpErrorDefinition<C extends MeshletErrorCode = MeshletErrorCode> {
  (message: string, options?: HttpErrorOptions): MeshletHttpError;
  /** The code every error it makes carries. */
  readonly code: C;
  /** The status they are answered with, unless one overrides it. */
  readonly statusCode: number;
}

/**
 * Binds `code` to its HTTP status once, as fastify's
 * `createError(code, message, status)` does, so that call sites name the
 * error and never repeat the status. Each package keeps a table of these
 * beside its codes, which `test/errors-doc.test.ts` checks against
 * `docs/errors.md`.
 */
export function defineHttpError<const C extends MeshletErrorCode>(code: C, statusCode: number): HttpErrorDefinition<C> {
  const make = (message: string, options: HttpErrorOptions = {}): MeshletHttpError =>
    new MeshletHttpError(
      code,
      options.statusCode ?? statusCode,
      message,
      'cause' in options ? { cause: options.cause } : undefined,
    );
  return Object.assign(make, { code, statusCode });
}

/** The definitions {@link defineHttpErrors} makes: one per key of `Codes` given a status. */
export type HttpErrorTable<Codes extends Readonly<Record<string, MeshletErrorCode>>, Statuses> = {
  readonly [K in keyof Statuses & keyof Codes]: HttpErrorDefinition<Codes[K]>;
};

/**
 * One package's table of {@link defineHttpError}s: `statuses` gives the
 * status of each code (by its key in `codes`) answered over HTTP; codes
 * never answered over HTTP are left out.
 */
export function defineHttpErrors<
  const Codes extends Readonly<Record<string, MeshletErrorCode>>,
  const Statuses extends { readonly [K in keyof Codes]?: number },
>(
  codes: Codes,
  statuses: Statuses & { readonly [K in Exclude<keyof Statuses, keyof Codes>]: never },
): HttpErrorTable<Codes, Statuses> {
  const table = Object.entries(statuses as Record<string, number>).map(([key, status]) => [
    key,
    defineHttpError(codes[key] as MeshletErrorCode, status),
  ]);
  return Object.freeze(Object.fromEntries(table)) as HttpErrorTable<Codes, Statuses>;
}

/** The JSON body of every error meshlet answers over HTTP: `{ error: { code, message, ...extra } }`. */
export function httpErrorBody<E extends Record<string, unknown>>(
  err: MeshletError,
  extra?: E,
): { error: { code: MeshletErrorCode; message: string } & E } {
  return { error: { code: err.code, message: err.message, ...(extra as E) } };
}

/** One problem found while validating input: where, what, and how to fix it. */
export interface ValidationIssue {
  /** Dotted path of the field, such as `listeners.outbound.port`; empty for the whole document. */
  path: string;
  /** What is wrong, such as `must be <= 65535`. */
  problem: string;
  /** What to do about it. */
  fix: string;
}

/** A config that failed validation; `issues` names every bad field. */
export class ConfigError extends MeshletError {
  /** Every problem found, one per field. */
  readonly issues: readonly ValidationIssue[];

  constructor(source: string, issues: readonly ValidationIssue[]) {
    const lines = issues.map((i) => `  - ${i.path || '(root)'}: ${i.problem}. Fix: ${i.fix}`);
    super(SharedErrorCodes.CONFIG_INVALID, `invalid configuration in ${source}:\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
