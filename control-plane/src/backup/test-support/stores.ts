import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../store/file-store.js';
import type { Snapshot } from '../snapshot.js';
import { takeSnapshot } from '../take-snapshot.js';

// Real file stores in temporary directories for the backup tests, and a
// source store with a full snapshot and two incrementals taken of it.

const dirs: string[] = [];

/** A new, open FileStore in a new temporary directory. */
export async function freshStore(): Promise<FileStore> {
  const d = mkdtempSync(join(tmpdir(), 'meshlet-backup-'));
  dirs.push(d);
  const s = new FileStore(d);
  await s.open();
  return s;
}

/** The same store's file, opened again: what is on disk. */
export async function reopened(store: FileStore): Promise<FileStore> {
  const s = new FileStore(join(store.path, '..'));
  await s.open();
  return s;
}

/** Removes every directory made; for `afterAll`. */
export function removeStores(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Every key of the store with its value. */
export function contents(store: FileStore): Record<string, unknown> {
  return Object.fromEntries(store.keys().map((k) => [k, store.get(k)]));
}

/** A fixed clock, so that `createdAt` is known. */
export const now = () => Date.parse('2025-03-01T12:00:00.000Z');

/** A source store and the snapshots taken of it: full, then an update and a deletion, then an addition and a deletion. */
export interface Chain {
  source: FileStore;
  full: Snapshot;
  inc1: Snapshot;
  inc2: Snapshot;
}

/** Builds a {@link Chain}; `routing` changes in every step, as the pusher's counter does. */
export async function chain(): Promise<Chain> {
  const source = await freshStore();
  await source.put('services', ['orders', 'users']);
  await source.put('policies/orders', { timeouts: { requestMs: 2000 }, retries: { attempts: 2 } });
  await source.put('policies/users', { loadBalancer: { kind: 'round_robin' } });
  await source.put('drains/i-1', { reason: 'kernel upgrade' });
  await source.put('routing', { version: 7 });
  const full = takeSnapshot(source, { now });

  await source.put('policies/orders', { timeouts: { requestMs: 5000 }, retries: { attempts: 3 } });
  await source.delete('drains/i-1');
  await source.put('routing', { version: 8 });
  const inc1 = takeSnapshot(source, { since: full.revision, now });

  await source.put('policies/payments', { rateLimit: { requestsPerSecond: 50, burst: 100 } });
  await source.delete('policies/users');
  await source.put('services', ['orders', 'payments']);
  await source.put('routing', { version: 9 });
  const inc2 = takeSnapshot(source, { since: inc1.revision, now });
  return { source, full, inc1, inc2 };
}

/** The snapshot as its file reads back. */
export const asFile = (s: Snapshot): unknown => JSON.parse(JSON.stringify(s, null, 2));
