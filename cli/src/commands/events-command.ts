import { usageError } from '../cli-error.js';
import {
  type Command,
  type CommandContext,
  OUTPUT_OPTION,
  type OptionSpec,
  type OptionValues,
  stringOption,
} from '../command.js';
import { eventsOf, followEvents, formatEventLine } from '../event-follower.js';
import { parseOutputFormat, renderDocument, renderTable, tableWidth } from '../output.js';
import { findResource } from '../resources.js';

/** The filters of `get events` and `events`. */
export const EVENT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  service: { type: 'string', value: 'NAME', description: 'only events of this service' },
  instance: { type: 'string', value: 'ID', description: 'only events of this instance' },
  kind: { type: 'string', value: 'KIND', description: 'only health, failover, drain or coordination events' },
  limit: { type: 'string', value: 'N', description: 'only the last N events' },
  follow: { type: 'boolean', short: 'w', description: 'keep printing events as they happen, until Ctrl-C' },
};

const KINDS = ['health', 'failover', 'drain', 'coordination', 'sharding', 'primary'];

/** The `/v1/events` query of the filter options, checked. */
export function eventFilters(values: OptionValues, command: string): URLSearchParams {
  const q = new URLSearchParams();
  for (const name of ['service', 'instance'] as const) {
    const v = stringOption(values, name);
    if (v !== undefined) q.set(name, v);
  }
  const kind = stringOption(values, 'kind');
  if (kind !== undefined) {
    if (!KINDS.includes(kind)) throw usageError(`--kind ${kind}: use one of ${KINDS.join(', ')}`, command);
    q.set('kind', kind);
  }
  return q;
}

function limitOf(values: OptionValues, command: string): number | undefined {
  const v = stringOption(values, 'limit');
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(v)) throw usageError(`--limit ${v}: use a whole number of at least 1`, command);
  return Number(v);
}

/**
 * Lists events (a table, or the API's JSON), and with `--follow` keeps
 * printing new ones, one line each, after the ones listed.
 */
export async function runEvents(ctx: CommandContext, values: OptionValues, command: string): Promise<number> {
  const format = parseOutputFormat(stringOption(values, 'output'), command);
  const filters = eventFilters(values, command);
  const limit = limitOf(values, command);
  const q = new URLSearchParams(filters);
  if (limit !== undefined) q.set('limit', String(limit));
  const path = `/v1/events${q.toString() ? `?${q}` : ''}`;
  const client = await ctx.client();
  const body = await client.get(path);
  const events = eventsOf(body, path);
  const { stdout } = ctx.io;
  if (!values.follow) {
    if (format !== 'table') stdout.write(renderDocument(format, body));
    else if (events.length === 0) ctx.io.stderr.write('no events found\n');
    else
      stdout.write(
        renderTable(
          findResource('events') as NonNullable<ReturnType<typeof findResource>>,
          events,
          stdout,
          ctx.colors,
          ctx.io.clock(),
        ),
      );
    return 0;
  }
  const width = tableWidth(stdout);
  const print = (e: (typeof events)[number]) =>
    stdout.write(
      format === 'yaml' ? `---\n${renderDocument('yaml', e)}` : formatEventLine(e, format, ctx.colors, width),
    );
  for (const e of events) print(e);
  const afterSeq = events.reduce((max, e) => (typeof e.seq === 'number' && e.seq > max ? e.seq : max), 0);
  await followEvents(client, ctx.io, { filters, afterSeq, print });
  return 0;
}

/** `meshctl events`: the same as `get events`. */
export const eventsCommand: Command = {
  name: 'events',
  summary: 'list health, failover and drain events; --follow streams new ones',
  usage: '[--service NAME] [--instance ID] [--kind KIND] [--limit N] [--follow] [-o FORMAT]',
  description:
    'The control plane keeps its recent decisions (events.maxEvents, 1000). With --follow, meshctl prints the\n' +
    'listed events, then one line per new event as it happens, until Ctrl-C (exit 0). A lost stream is\n' +
    'reopened with backoff and resumes after the last event printed. -o json prints one JSON object per line.',
  options: { ...EVENT_OPTIONS, output: OUTPUT_OPTION },
  args: { min: 0, max: 0 },
  examples: [
    'meshctl events --service hello --limit 20',
    'meshctl events --follow',
    'meshctl events --kind failover -o json',
  ],
  run: (ctx, _args, values) => runEvents(ctx, values, 'events'),
};
