import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { MeshletError, SharedErrorCodes } from './errors.js';

/**
 * Writes JSON crash-safely: write-file-atomic writes a temp file beside the
 * target, fsyncs it and renames it over the target, so a reader (or a
 * restart after a crash) sees either the old file or the new one, never half.
 */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { fsync: true, mode: 0o600 });
}

/** Reads a JSON file; `undefined` when it does not exist; a {@link MeshletError} when it is corrupt. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MeshletError(
      SharedErrorCodes.FILE_CORRUPT,
      `${path} is not valid JSON (${(e as Error).message}); move it aside and restart`,
      { cause: e },
    );
  }
}
