import { CliError, CliErrorCodes, usageError } from '../cli-error.js';
import { type Command, OUTPUT_OPTION, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument, renderTable } from '../output.js';
import { findResource, RESOURCES } from '../resources.js';
import { EVENT_OPTIONS, runEvents } from './events-command.js';
import { shardsCommand } from './shards-command.js';
import { showFailover } from './switchover-command.js';

const NAMES = RESOURCES.map((r) => r.name).join(', ');
/** Resources whose list `--service` filters (besides events). */
const FILTERED_BY_SERVICE = new Set(['instances', 'locks', 'elections']);

/** `meshctl get RESOURCE [NAME]`. */
export const getCommand: Command = {
  name: 'get',
  summary: `show ${NAMES}`,
  usage: 'RESOURCE [NAME] [-o table|json|yaml]',
  description:
    `RESOURCE is one of ${NAMES} (or service, svc, instance, inst, agent, event, policy, pol).\n` +
    'A table by default: on a terminal its columns fit the width and long cells end in …; in a pipe nothing\n' +
    'is cut and there are no colours. -o json and -o yaml print the API answer as it is.\n' +
    '--service also filters get instances, locks and elections; the other event options apply to get events only.\n' +
    'get cluster shows the replica that answers: its role (leader, follower or standalone), the leader and its URL.\n' +
    "get shards SERVICE shows a range-sharded service's map, as meshctl shards SERVICE does.\n" +
    "get failover SERVICE shows a managed service's term, primary, candidates, instances and last failover steps.",
  options: { output: OUTPUT_OPTION, ...EVENT_OPTIONS },
  args: { min: 1, max: 2 },
  examples: [
    'meshctl get services',
    'meshctl get instances --service hello',
    'meshctl get agents -o yaml',
    'meshctl get policies orders -o json',
    'meshctl get events --service hello --limit 20',
    'meshctl get cluster',
    'meshctl get locks --service orders',
    'meshctl get elections',
    'meshctl get shards kv',
    'meshctl get failover pg',
  ],
  async run(ctx, args, values) {
    const [what = '', name] = args;
    // A service's range map: the same table as meshctl shards SERVICE.
    if (what === 'shards' || what === 'shard') {
      if (name === undefined) throw usageError('get shards needs the SERVICE whose range map to show', 'get');
      return shardsCommand.run(ctx, [name], { output: values.output });
    }
    if (what === 'failover') {
      if (name === undefined) throw usageError('get failover needs the managed SERVICE whose failover to show', 'get');
      return showFailover(ctx, name, values.output);
    }
    const resource = findResource(what);
    if (!resource) throw usageError(`unknown resource "${what}": use one of ${NAMES}`, 'get');
    if (resource.name === 'events') {
      if (name !== undefined)
        throw usageError('get events takes no NAME; filter with --service, --instance or --kind', 'get');
      return runEvents(ctx, values, 'get');
    }
    const eventOnly = Object.keys(EVENT_OPTIONS).filter(
      (o) => values[o] !== undefined && !(o === 'service' && FILTERED_BY_SERVICE.has(resource.name)),
    );
    if (eventOnly.length > 0) throw usageError(`--${eventOnly[0]} applies to get events only`, 'get');
    const format = parseOutputFormat(stringOption(values, 'output'), 'get');
    if (name !== undefined && !resource.itemPath) throw usageError(`get ${resource.name} takes no NAME`, 'get');
    const client = await ctx.client();
    const now = ctx.io.clock();
    const { listKey } = resource;
    if (name !== undefined || listKey === undefined) {
      const path = name !== undefined && resource.itemPath ? resource.itemPath(name) : resource.listPath;
      const item = await client.get<Record<string, unknown>>(
        path,
        name === undefined ? {} : { context: `${resource.name}/${name}` },
      );
      if (typeof item !== 'object' || item === null || Array.isArray(item))
        throw new CliError(CliErrorCodes.BAD_ANSWER, `GET ${path}: the answer is not a JSON object`);
      ctx.io.stdout.write(
        format === 'table'
          ? renderTable(resource, [item], ctx.io.stdout, ctx.colors, now)
          : renderDocument(format, item),
      );
      return 0;
    }
    const body = await client.get<Record<string, unknown>>(resource.listPath);
    const list = body?.[listKey];
    if (!Array.isArray(list))
      throw new CliError(CliErrorCodes.BAD_ANSWER, `GET ${resource.listPath}: the answer has no "${listKey}" list`);
    const service = stringOption(values, 'service');
    // /v1/instances has no service filter: filter here, and keep the answer's shape for -o json|yaml.
    const items = (
      service === undefined ? list : list.filter((i: { service?: unknown }) => i?.service === service)
    ) as Record<string, unknown>[];
    const rows = resource.tableRows?.(body ?? {}, items) ?? items;
    if (format !== 'table') {
      ctx.io.stdout.write(renderDocument(format, service === undefined ? body : { ...body, [listKey]: items }));
    } else if (rows.length === 0) {
      ctx.io.stderr.write(`no ${resource.name} found\n`);
    } else {
      ctx.io.stdout.write(renderTable(resource, rows, ctx.io.stdout, ctx.colors, now));
    }
    return 0;
  },
};
