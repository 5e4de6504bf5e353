import { CliError, usageError } from '../cli-error.js';
import { type Command, listOption, OUTPUT_OPTION, stringOption } from '../command.js';
import { inputName, readInput } from '../input-file.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { cell } from '../resources.js';
import { readSnapshot } from '../snapshot-file.js';

/** `meshctl restore -f FULL [-f INC ...]`. */
export const restoreCommand: Command = {
  name: 'restore',
  summary: 'put back a full backup and its incrementals, in order',
  usage: '-f FULL [-f INCREMENTAL ...] [-o json|yaml]',
  description:
    'Sends every file in one POST /v1/snapshots/restore. The control plane checks them all first (intact,\n' +
    'one cluster, each incremental since the previous revision) and refuses the lot if one is wrong; the\n' +
    'message names the file. Restore into a control plane meant to hold this data (such as a fresh one).',
  options: {
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      value: 'FILE',
      description: 'snapshot file, in the order taken; - for stdin (once)',
    },
    output: OUTPUT_OPTION,
  },
  args: { min: 0, max: 0 },
  examples: ['meshctl restore -f full.json -f inc-1.json -f inc-2.json'],
  async run(ctx, _args, values) {
    const files = listOption(values, 'filename');
    if (files.length === 0) throw usageError('restore needs -f FILE (the full backup first)', 'restore');
    if (files.filter((f) => f === '-').length > 1) throw usageError('-f - (stdin) can be given once', 'restore');
    const format = parseOutputFormat(stringOption(values, 'output'), 'restore');
    const names = files.map(inputName);
    const snapshots: Record<string, unknown>[] = [];
    for (const [i, file] of files.entries())
      snapshots.push(readSnapshot(await readInput(file, ctx.io), names[i] as string).doc);
    const client = await ctx.client();
    let answer: { restored?: { keys?: unknown; revision?: unknown } };
    try {
      answer = await client.json('POST', '/v1/snapshots/restore', { body: { snapshots }, context: 'restore' });
    } catch (e) {
      // The control plane counts snapshots ("snapshot 2 of 3"); the operator knows them by file name.
      if (e instanceof CliError) {
        e.message = e.message.replace(
          /snapshot (\d+) of (\d+)/g,
          (m, n: string) => `${m} (${names[Number(n) - 1] ?? '?'})`,
        );
      }
      throw e;
    }
    if (format !== 'table') ctx.io.stdout.write(renderDocument(format, answer));
    else
      ctx.io.stdout.write(
        `restored ${cell(answer?.restored?.keys)} keys at revision ${cell(answer?.restored?.revision)} from ${files.length} file${files.length === 1 ? '' : 's'}\n`,
      );
    return 0;
  },
};
