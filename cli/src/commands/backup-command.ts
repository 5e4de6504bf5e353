import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { CliError, CliErrorCodes, usageError } from '../cli-error.js';
import { type Command, stringOption } from '../command.js';
import { describeSnapshot, readSnapshot } from '../snapshot-file.js';

/**
 * Writes `text` to `file` through a temporary file and a rename, readable
 * by the owner only: a backup cut short never looks like a whole one, and
 * it holds every policy of the mesh.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flush: true });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new CliError(CliErrorCodes.FILE, `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** `meshctl backup [--since REV] [-f FILE]`. */
export const backupCommand: Command = {
  name: 'backup',
  summary: "save the control plane's store (full, or incremental since a revision) to a file",
  usage: '[--since REV] [-f FILE]',
  description:
    'Writes the snapshot document (JSON) to FILE, or to stdout without -f or with -f -, and says on stderr what it\n' +
    'holds. An incremental backup holds the changes since REV, the revision of the previous backup (printed when\n' +
    'it was taken). Keep the files: restore needs the full one and every incremental after it, in order.',
  options: {
    since: { type: 'string', value: 'REV', description: 'incremental: only the changes after revision REV' },
    filename: { type: 'string', short: 'f', value: 'FILE', description: 'write here (mode 0600) instead of stdout' },
  },
  args: { min: 0, max: 0 },
  examples: ['meshctl backup -f full.json', 'meshctl backup --since 42 -f inc-1.json'],
  async run(ctx, _args, values) {
    const since = stringOption(values, 'since');
    if (since !== undefined && !/^\d{1,16}$/.test(since))
      throw usageError(`--since ${since}: use the revision printed by the previous backup`, 'backup');
    const file = stringOption(values, 'filename') ?? '-';
    const client = await ctx.client();
    const path = since === undefined ? '/v1/snapshots/full' : `/v1/snapshots/incremental?since=${since}`;
    const { text } = await client.text('GET', path, {
      context: since === undefined ? 'backup' : `backup --since ${since}`,
    });
    let summary;
    try {
      summary = readSnapshot(text, `the answer to GET ${path}`).summary;
    } catch (e) {
      throw new CliError(CliErrorCodes.BAD_ANSWER, (e as Error).message, { cause: e });
    }
    // The bytes as the server sent them: the checksum covers the content, and nothing here needs to touch it.
    const out = text.endsWith('\n') ? text : `${text}\n`;
    if (file === '-') ctx.io.stdout.write(out);
    else await writeAtomically(file, out);
    ctx.io.stderr.write(`${describeSnapshot(summary)} -> ${file === '-' ? 'stdout' : file}\n`);
    return 0;
  },
};
