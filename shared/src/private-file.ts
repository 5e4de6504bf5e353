import writeFileAtomic from 'write-file-atomic';

/**
 * Writes a file only its owner may read or write (0600), crash-safely (a temp
 * file beside it, fsynced, renamed over it): for private keys and other
 * secrets that live in a data directory. The mode is set on the temp file
 * before it is renamed, so the secret is never readable by others, not even
 * for a moment, and an existing file's looser mode is not kept.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text, { fsync: true, mode: 0o600 });
}
