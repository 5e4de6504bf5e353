import { isServiceName, SERVICE_NAME_RULE } from '@meshlet/shared/service-name';
import { usageError } from '../cli-error.js';
import { type Command, type CommandContext, OUTPUT_OPTION, type OptionValues, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument, tableWidth } from '../output.js';
import { cell } from '../resources.js';
import { formatTable } from '../table.js';

/** A range as `GET /v1/services/NAME/shards` lists it. */
interface Range {
  from?: string | number;
  to?: string | number;
  instance?: string;
  subset?: Record<string, string>;
}

/** The map as the admin API shows it. */
interface ShardMap {
  service: string;
  source: string;
  resourceVersion: string;
  generation: number;
  tableVersion: number | null;
  key: Record<string, unknown>;
  compare: string;
  ranges: Range[];
  change?: string;
}

const ACTIONS = ['split', 'move', 'merge'] as const;
const enc = encodeURIComponent;
const bound = (v: string | number | undefined, open: string) => (v === undefined ? open : JSON.stringify(v));
const owner = (r: Range) =>
  r.instance !== undefined
    ? `instance/${cell(r.instance)}`
    : `subset ${cell(
        Object.entries(r.subset ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      )}`;

/** `shard=c,zone=a` as `{shard: "c", zone: "a"}`. */
function parseSubset(text: string): Record<string, string> {
  const subset: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--subset "${text.slice(0, 100)}": write LABEL=VALUE[,LABEL=VALUE]`, 'shards');
    subset[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return subset;
}

/** `--instance ID` or `--subset L=V`: exactly one when `required`, at most one otherwise. */
function ownerOption(values: OptionValues, required: boolean): Record<string, unknown> {
  const instance = stringOption(values, 'instance');
  const subset = stringOption(values, 'subset');
  if (instance !== undefined && subset !== undefined)
    throw usageError('give --instance or --subset, not both', 'shards');
  if (instance !== undefined) return { instance };
  if (subset !== undefined) return { subset: parseSubset(subset) };
  if (required) throw usageError('shards move needs the new owner: --instance ID or --subset LABEL=VALUE', 'shards');
  return {};
}

function print(ctx: CommandContext, format: ReturnType<typeof parseOutputFormat>, map: ShardMap): void {
  if (format !== 'table') {
    ctx.io.stdout.write(renderDocument(format, map));
    return;
  }
  if (map.change !== undefined) ctx.io.stdout.write(`service/${cell(map.service)} ${cell(map.change)}\n`);
  ctx.io.stdout.write(
    `service/${cell(map.service)} key ${cell(map.key)} compare ${cell(map.compare)} generation ${cell(map.generation)} ` +
      `resourceVersion ${cell(map.resourceVersion)} tableVersion ${cell(map.tableVersion)}\n`,
  );
  const width = tableWidth(ctx.io.stdout);
  ctx.io.stdout.write(
    formatTable(
      ['#', 'FROM', 'TO', 'OWNER'],
      map.ranges.map((r, i) => [String(i), cell(bound(r.from, '-inf')), cell(bound(r.to, '+inf')), owner(r)]),
      width === undefined ? {} : { maxWidth: width },
    ),
  );
}

/** `meshctl shards SERVICE` and `meshctl shards split|move|merge SERVICE ...`: a service's range map. */
export const shardsCommand: Command = {
  name: 'shards',
  summary: "show or change a range-sharded service's map (split, move, merge)",
  usage:
    'SERVICE | split SERVICE --at KEY [--instance ID|--subset L=V] --resource-version N | ' +
    'move SERVICE (--from KEY|--first) (--instance ID|--subset L=V) --resource-version N | merge SERVICE --at KEY --resource-version N',
  description:
    'Ranges are half-open [from, to). split cuts the range holding --at in two, the upper half to the owner\n' +
    'given (else the same); move gives the range starting at --from (--first: the first) to another owner;\n' +
    'merge joins the two ranges meeting at --at (same owner only). Each change needs the resourceVersion\n' +
    'shown by meshctl shards SERVICE ("0" for a map from the config file): a stale one is refused (409).',
  options: {
    at: { type: 'string', value: 'KEY', description: 'split, merge: the bound' },
    from: { type: 'string', value: 'KEY', description: 'move: where the range starts' },
    first: { type: 'boolean', description: 'move: the range from minus infinity (it has no --from)' },
    instance: { type: 'string', value: 'ID', description: 'split, move: the new owner, an instance' },
    subset: { type: 'string', value: 'L=V', description: 'split, move: the new owner, a subset by labels' },
    'resource-version': { type: 'string', value: 'N', description: 'the resourceVersion the change is based on' },
    output: OUTPUT_OPTION,
  },
  args: { min: 1, max: 2 },
  examples: [
    'meshctl shards kv',
    'meshctl shards split kv --at m --instance kv-3 --resource-version 21',
    'meshctl shards move kv --from m --subset shard=c --resource-version 24',
    'meshctl shards merge kv --at m --resource-version 25',
  ],
  async run(ctx, args, values) {
    const format = parseOutputFormat(stringOption(values, 'output'), 'shards');
    const [head = '', second] = args;
    const action = (ACTIONS as readonly string[]).includes(head) && second !== undefined ? head : undefined;
    const service = action === undefined ? head : (second as string);
    if (action === undefined && second !== undefined)
      throw usageError(`shards ${head}: use one of ${ACTIONS.join(', ')}, or shards SERVICE`, 'shards');
    if (!isServiceName(service))
      throw usageError(`shards: "${service.slice(0, 100)}" is not a service name; ${SERVICE_NAME_RULE.fix}`, 'shards');
    const client = await ctx.client();
    if (action === undefined) {
      print(
        ctx,
        format,
        await client.get<ShardMap>(`/v1/services/${enc(service)}/shards`, { context: `shards/${service}` }),
      );
      return 0;
    }
    const resourceVersion = stringOption(values, 'resource-version');
    if (resourceVersion === undefined)
      throw usageError(`shards ${action} needs --resource-version N: see meshctl shards ${service}`, 'shards');
    const at = stringOption(values, 'at');
    const from = stringOption(values, 'from');
    let body: Record<string, unknown>;
    if (action === 'move') {
      const first = values.first === true;
      if ((from === undefined) === !first)
        throw usageError('shards move needs --from KEY, or --first for the range from minus infinity', 'shards');
      body = { from: first ? null : from, to: ownerOption(values, true), resourceVersion };
    } else {
      if (at === undefined) throw usageError(`shards ${action} needs --at KEY`, 'shards');
      body = { at: at, resourceVersion, ...(action === 'split' ? ownerOption(values, false) : {}) };
    }
    const answer = await client.json<ShardMap>('POST', `/v1/services/${enc(service)}/shards/${action}`, {
      body,
      context: `shards ${action} ${service}`,
      // With replicas, the leader makes edits: a follower's refusal naming it is resent there once.
      followLeader: (follower: string, leader: string) =>
        ctx.io.stderr.write(`note: ${follower} follows; sent to the leader at ${leader}\n`),
    });
    print(ctx, format, answer);
    return 0;
  },
};
