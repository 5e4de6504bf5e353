import { SNAPSHOT_FORMAT } from '@meshlet/shared/admin-api';
import { CliError, CliErrorCodes } from './cli-error.js';
import { parseJsonFile } from './input-file.js';

/** What meshctl reads from a snapshot document to describe it; the control plane checks the rest (checksum, order, cluster). */
export interface SnapshotSummary {
  kind: string;
  since: number;
  revision: number;
  /** Keys (full) or changes (incremental) in it. */
  entries: number;
}

/**
 * Reads a snapshot document far enough to describe it and to refuse what is
 * plainly not one (not JSON, another format), naming the file. Whether it is
 * intact and in order is the control plane's to check at restore.
 */
export function readSnapshot(text: string, name: string): { doc: Record<string, unknown>; summary: SnapshotSummary } {
  const doc = parseJsonFile(text, name);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new CliError(
      CliErrorCodes.FILE,
      `${name} is not a meshlet snapshot: expected a JSON object with format "${SNAPSHOT_FORMAT}"`,
    );
  }
  const d = doc as Record<string, unknown>;
  if (d.format !== SNAPSHOT_FORMAT) {
    const got = typeof d.format === 'string' ? `format "${d.format}"` : 'no format field';
    throw new CliError(
      CliErrorCodes.FILE,
      `${name} is not a meshlet snapshot (${got}, expected "${SNAPSHOT_FORMAT}"); pass a file written by meshctl backup`,
    );
  }
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  return {
    doc: d,
    summary: {
      kind: String(d.kind),
      since: num(d.since),
      revision: num(d.revision),
      entries: Array.isArray(d.entries) ? d.entries.length : 0,
    },
  };
}

/** `full backup at revision N: K keys` or `incremental backup since M..N: K keys`. */
export function describeSnapshot(s: SnapshotSummary): string {
  return s.kind === 'incremental'
    ? `incremental backup since ${s.since}..${s.revision}: ${s.entries} keys`
    : `${s.kind} backup at revision ${s.revision}: ${s.entries} keys`;
}
