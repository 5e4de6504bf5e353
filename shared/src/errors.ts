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
} as const;

/** One of the stable error codes. */
export type MeshletErrorCode = string;

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
    super(
      SharedErrorCodes.CONFIG_INVALID,
      `invalid configuration in ${source}:\n${lines.join('\n')}`,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
