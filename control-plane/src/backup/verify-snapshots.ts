import { SNAPSHOT_FORMAT } from '@meshlet/shared';
import { ControlPlaneErrorCodes } from '../errors.js';
import { isExcludedKey, snapshotChecksum, type Snapshot } from './snapshot-format.js';

/** Why a list of snapshots was refused. */
export interface SnapshotError {
  code: typeof ControlPlaneErrorCodes.SNAPSHOT_INVALID;
  /** Names the snapshot ("snapshot 2 of 3"), what is wrong and what to do. */
  message: string;
  /** Position of the refused snapshot in the list given, from 0 (0 too when the list is empty). */
  index: number;
  /** The field at fault, such as `entries[3].modRevision`, when one is. */
  field?: string;
}

// Only verifySnapshots makes objects with this property, so that
// restoreSnapshots cannot be handed a list that was not verified.
const verified: unique symbol = Symbol('meshlet.verifiedSnapshots');

/** Snapshots that {@link verifySnapshots} accepted, and the store state they add up to. */
export interface VerifiedSnapshots {
  readonly ok: true;
  readonly snapshots: readonly Snapshot[];
  /** Every key with its value after the full snapshot and each incremental in order; excluded keys left out. */
  readonly state: ReadonlyMap<string, unknown>;
  /** The last snapshot's revision. */
  readonly revision: number;
  readonly [verified]: true;
}

/** What {@link verifySnapshots} returns. */
export type SnapshotVerification = VerifiedSnapshots | { ok: false; error: SnapshotError };

type Check = { ok: true; snapshot: Snapshot } | { ok: false; problem: string; field?: string };

const FIX_DAMAGED = 'use an intact copy of the file, or take a new snapshot';

/**
 * Checks a restore's input: one full snapshot, then the incrementals taken
 * after it, each since the previous one's revision, all of one cluster. Each
 * item is a parsed document or the text of a file (string or bytes). Each
 * document's shape and checksum are checked before anything is read from it,
 * and the result holds copies, so that changing the input afterwards does
 * not change what a restore writes.
 */
export function verifySnapshots(input: readonly unknown[]): SnapshotVerification {
  const n = input.length;
  const fail = (index: number, message: string, field?: string): SnapshotVerification => ({
    ok: false,
    error: { code: ControlPlaneErrorCodes.SNAPSHOT_INVALID, message, index, ...(field !== undefined ? { field } : {}) },
  });
  if (n === 0)
    return fail(0, 'no snapshots given: pass a full snapshot, then its incrementals in the order they were taken');

  const snapshots: Snapshot[] = [];
  for (const [index, item] of input.entries()) {
    const where = `snapshot ${index + 1} of ${n}`;
    const check = checkSnapshot(item);
    if (!check.ok) return fail(index, `${where}: ${check.problem}`, check.field);
    const s = check.snapshot;
    const first = snapshots[0];
    const previous = snapshots.at(-1);
    if (first === undefined || previous === undefined) {
      if (s.kind !== 'full') {
        return fail(
          index,
          `${where}: is an incremental snapshot (since revision ${s.since}), but the first must be a full one: pass the full snapshot first, then its incrementals in the order they were taken`,
          'kind',
        );
      }
    } else {
      if (s.kind === 'full') {
        return fail(
          index,
          `${where}: is a full snapshot, but only the first may be: restore from one full snapshot and the incrementals taken after it`,
          'kind',
        );
      }
      if (s.clusterId !== first.clusterId) {
        return fail(
          index,
          `${where}: from another cluster: its cluster id is ${s.clusterId}, snapshot 1's is ${first.clusterId}; pass only snapshots of one cluster`,
          'clusterId',
        );
      }
      if (s.since > previous.revision) {
        return fail(
          index,
          `${where}: gap: it holds the changes since revision ${s.since}, but snapshot ${index} ends at revision ${previous.revision}, so the changes in between are in none of them; pass the missing incremental, or take an incremental since ${previous.revision}`,
          'since',
        );
      }
      if (s.since < previous.revision) {
        return fail(
          index,
          `${where}: overlap: it holds the changes since revision ${s.since}, but snapshot ${index} already reaches revision ${previous.revision}; pass the incrementals of one chain, each taken since the previous one's revision (${previous.revision} here)`,
          'since',
        );
      }
    }
    snapshots.push(s);
  }

  // Keys that a later version excludes may be in older snapshots: skipped, not refused.
  const state = new Map<string, unknown>();
  for (const s of snapshots) {
    for (const e of s.entries) {
      if (isExcludedKey(e.key)) continue;
      if ('deleted' in e) state.delete(e.key);
      else state.set(e.key, e.value);
    }
  }
  const revision = snapshots.at(-1)?.revision ?? 0;
  return { ok: true, snapshots, state, revision, [verified]: true };
}

/** One document on its own: format, shape, checksum, then what its numbers must satisfy. */
function checkSnapshot(item: unknown): Check {
  let doc: unknown;
  try {
    // A copy as JSON reads it back: the checksum is of that, and the caller keeps no handle on it.
    const text =
      typeof item === 'string'
        ? item
        : item instanceof Uint8Array
          ? Buffer.from(item).toString('utf8')
          : (JSON.stringify(item) as string | undefined);
    doc = text === undefined ? undefined : JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `truncated or not JSON (${(e as Error).message}): ${FIX_DAMAGED}` };
  }
  if (!isRecord(doc) || doc.format !== SNAPSHOT_FORMAT) {
    const format = isRecord(doc) ? doc.format : undefined;
    const newer = typeof format === 'string' && format.startsWith('meshlet-snapshot/');
    return {
      ok: false,
      field: 'format',
      problem: newer
        ? `format ${format} is not ${SNAPSHOT_FORMAT}: it was written by another meshlet version; restore it with that version`
        : `foreign file: not a meshlet snapshot (${isRecord(doc) ? `format is ${JSON.stringify(format) ?? 'missing'}` : `it is ${describe(doc)}`}, expected "${SNAPSHOT_FORMAT}"); pass only files written by a meshlet snapshot`,
    };
  }
  if (doc.kind !== 'full' && doc.kind !== 'incremental') {
    return {
      ok: false,
      field: 'kind',
      problem: `unknown kind ${JSON.stringify(doc.kind) ?? '(missing)'}: expected "full" or "incremental"; ${FIX_DAMAGED}`,
    };
  }
  const shape = shapeProblem(doc);
  if (shape !== undefined) {
    return {
      ok: false,
      field: shape.field,
      problem: `truncated or invalid: ${shape.field} ${shape.problem}; ${FIX_DAMAGED}`,
    };
  }
  const s = doc as unknown as Snapshot;
  const actual = snapshotChecksum(s);
  if (actual !== s.checksum) {
    return {
      ok: false,
      field: 'checksum',
      problem: `corrupted or edited: checksum ${actual} of the content does not match the recorded ${s.checksum}; ${FIX_DAMAGED} (a snapshot must not be edited)`,
    };
  }
  const wrong = (field: string, problem: string): Check => ({
    ok: false,
    field,
    problem: `invalid: ${field} ${problem}; take a new snapshot`,
  });
  if (s.since > s.revision) return wrong('since', `(${s.since}) is after revision (${s.revision})`);
  if (s.kind === 'full' && s.since !== 0) return wrong('since', `is ${s.since} in a full snapshot, must be 0`);
  for (const [i, e] of s.entries.entries()) {
    const before = s.entries[i - 1];
    if (before !== undefined && !(before.key < e.key))
      return wrong(
        `entries[${i}].key`,
        `(${e.key}) is not after ${before.key}: entries must be sorted by key, each key once`,
      );
    if (s.kind === 'full' && 'deleted' in e)
      return wrong(`entries[${i}].deleted`, 'is set in a full snapshot, which holds values only');
    if (e.modRevision > s.revision || (s.kind === 'incremental' && e.modRevision <= s.since)) {
      return wrong(
        `entries[${i}].modRevision`,
        `(${e.modRevision}) is outside the snapshot's revisions (${s.since}, ${s.revision}]`,
      );
    }
  }
  return { ok: true, snapshot: s };
}

/** The first field that does not have the type the format gives it, and why. */
function shapeProblem(doc: Record<string, unknown>): { field: string; problem: string } | undefined {
  const revisionField = (v: unknown) =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? undefined : `must be a whole number >= 0 (it is ${describe(v)})`;
  const fields: [string, (v: unknown) => string | undefined][] = [
    [
      'clusterId',
      (v) => (typeof v === 'string' && v.length > 0 ? undefined : `must be a non-empty string (it is ${describe(v)})`),
    ],
    ['since', revisionField],
    ['revision', revisionField],
    [
      'createdAt',
      (v) =>
        typeof v === 'string' && !Number.isNaN(Date.parse(v))
          ? undefined
          : `must be an ISO 8601 date (it is ${describe(v)})`,
    ],
    ['entries', (v) => (Array.isArray(v) ? undefined : `must be an array (it is ${describe(v)})`)],
    [
      'checksum',
      (v) =>
        typeof v === 'string' && /^sha256:[0-9a-f]{64}$/.test(v)
          ? undefined
          : `must be "sha256:" and 64 hex digits (it is ${describe(v)})`,
    ],
  ];
  for (const [field, check] of fields) {
    const problem = check(doc[field]);
    if (problem !== undefined) return { field, problem };
  }
  for (const [i, e] of (doc.entries as unknown[]).entries()) {
    const at = `entries[${i}]`;
    if (!isRecord(e)) return { field: at, problem: `must be an object (it is ${describe(e)})` };
    if (typeof e.key !== 'string')
      return { field: `${at}.key`, problem: `must be a string (it is ${describe(e.key)})` };
    const rev = revisionField(e.modRevision);
    if (rev !== undefined) return { field: `${at}.modRevision`, problem: rev };
    const hasValue = 'value' in e;
    if (e.deleted !== undefined && e.deleted !== true)
      return { field: `${at}.deleted`, problem: `must be true when present (it is ${describe(e.deleted)})` };
    if (hasValue === (e.deleted === true)) return { field: at, problem: 'must have either a value or "deleted": true' };
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}
