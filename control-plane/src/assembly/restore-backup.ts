import type { Logger } from '@meshlet/shared';
import type { AdminDeps } from '../api/admin-routes.js';
import { checkRestoredState } from '../backup/restore-check.js';
import { restoreSnapshots, verifySnapshots } from '../backup/snapshot.js';
import type { Store } from '../store/store.js';

/**
 * Verifies a backup (a full snapshot and its incrementals) and writes it to
 * the store; `follow` re-derives what comes from the store afterwards, even
 * after a write that failed part-way.
 */
export async function restoreBackup(
  store: Store,
  input: unknown[],
  log: Logger,
  follow: () => void,
): ReturnType<AdminDeps['restore']> {
  const verified = verifySnapshots(input);
  if (!verified.ok) {
    const { index, field, message } = verified.error;
    return { ok: false, message, field: `snapshots[${index}]${field ? `.${field}` : ''}` };
  }
  const invalid = checkRestoredState(verified.state);
  if (invalid) return { ok: false, message: invalid };
  try {
    const done = await restoreSnapshots(store, verified);
    log.info({ keys: done.keys, revision: done.revision }, 'restored a backup');
    return { ok: true, keys: done.keys, revision: done.revision };
  } finally {
    // Everything derived from the store follows it, even after a write that failed part-way.
    follow();
  }
}
