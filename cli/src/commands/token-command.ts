import { isServiceName, SERVICE_NAME_RULE } from '@meshlet/shared/service-name';
import { usageError } from '../cli-error.js';
import { type Command, type CommandContext, OUTPUT_OPTION, stringOption, type OptionValues } from '../command.js';
import { parseOutputFormat, renderDocument, tableWidth } from '../output.js';
import { formatTable } from '../table.js';

/** A join credential as `GET /v1/join-credentials` lists it. */
interface CredentialItem {
  id: string;
  service: string;
  createdAt: string;
  expiresAt: string;
  revokedAt?: string;
  state: string;
}

const ACTIONS = ['create', 'list', 'revoke'] as const;

/** `2026-12-04T19:00:00.000Z` as `2026-12-04 19:00Z`: the minute is enough for a credential's dates. */
const shortDate = (iso: string): string => iso.replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, 'Z');

async function create(ctx: CommandContext, values: OptionValues): Promise<number> {
  const service = stringOption(values, 'service');
  if (service === undefined)
    throw usageError('token create needs --service NAME, the service the agent fronts', 'token');
  if (!isServiceName(service))
    throw usageError(
      `token create: --service "${service.slice(0, 100)}" is not a service name; ${SERVICE_NAME_RULE.fix}`,
      'token',
    );
  const ttl = stringOption(values, 'ttl');
  const format = parseOutputFormat(stringOption(values, 'output'), 'token');
  const client = await ctx.client();
  const body = await client.json<CredentialItem & { credential: string }>('POST', '/v1/join-credentials', {
    body: { service, ...(ttl === undefined ? {} : { ttl }) },
    context: `join credential for ${service}`,
  });
  if (format !== 'table') {
    ctx.io.stdout.write(renderDocument(format, body));
    return 0;
  }
  // Off a terminal (`$(meshctl token create ...)`, a pipe, a file) stdout is the credential alone,
  // and the guidance, which does not repeat it, goes to stderr.
  const tty = ctx.io.stdout.isTTY === true;
  ctx.io.stdout.write(`${body.credential}\n`);
  (tty ? ctx.io.stdout : ctx.io.stderr).write(guidance(body, tty));
  return 0;
}

/** How to use a minted credential; on a terminal it follows the credential, so "above" finds it. */
function guidance(body: CredentialItem, tty: boolean): string {
  const where = tty ? 'above' : 'printed on stdout';
  return (
    `${tty ? '\n' : ''}join credential ${body.id} for service ${body.service}, expires ${shortDate(body.expiresAt)}.\n` +
    `The credential ${where} is shown once: the control plane keeps only its hash. Put it in the config\n` +
    `of the agents of ${body.service} as controlPlane.joinToken, or set MESHLET_CONTROL_PLANE_JOIN_TOKEN\n` +
    `(a client-only agent also needs service: ${body.service} in its config).\n` +
    `Revoke it with: meshctl token revoke ${body.id}\n`
  );
}

async function list(ctx: CommandContext, values: OptionValues): Promise<number> {
  const format = parseOutputFormat(stringOption(values, 'output'), 'token');
  const client = await ctx.client();
  const body = await client.get<{ items: CredentialItem[] }>('/v1/join-credentials');
  if (format !== 'table') {
    ctx.io.stdout.write(renderDocument(format, body));
    return 0;
  }
  if (body.items.length === 0) {
    ctx.io.stdout.write('No join credentials. Mint one with: meshctl token create --service NAME\n');
    return 0;
  }
  const width = tableWidth(ctx.io.stdout);
  ctx.io.stdout.write(
    formatTable(
      ['ID', 'SERVICE', 'CREATED', 'EXPIRES', 'STATE'],
      body.items.map((c) => [c.id, c.service, shortDate(c.createdAt), shortDate(c.expiresAt), c.state]),
      width === undefined ? {} : { maxWidth: width },
    ),
  );
  return 0;
}

async function revoke(ctx: CommandContext, id: string, values: OptionValues): Promise<number> {
  const format = parseOutputFormat(stringOption(values, 'output'), 'token');
  const client = await ctx.client();
  const body = await client.json<CredentialItem>('DELETE', `/v1/join-credentials/${encodeURIComponent(id)}`, {
    context: `join credential ${id}`,
  });
  ctx.io.stdout.write(
    format === 'table'
      ? `join credential ${body.id} (service ${body.service}) revoked; agents that joined with it were sent away\n`
      : renderDocument(format, body),
  );
  return 0;
}

/** `meshctl token create|list|revoke`: per-service join credentials for agents. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint, list and revoke join credentials, each bound to one service',
  usage: 'create --service NAME [--ttl 720h] | list | revoke ID',
  description:
    'An agent joins with a credential in controlPlane.joinToken; a credential admits only agents that\n' +
    'register instances of its service, or client-only agents whose config names it (service: NAME).\n' +
    'create prints the credential once (the control plane keeps only its hash); list never shows it.\n' +
    'Agents without a valid credential are refused.\n' +
    'revoke refuses the credential from then on and sends away the agents that joined with it.',
  options: {
    service: { type: 'string', value: 'NAME', description: 'create: the service the credential admits' },
    ttl: {
      type: 'string',
      value: 'DURATION',
      description: 'create: how long it admits agents, such as 720h (default) or 30m',
    },
    output: OUTPUT_OPTION,
  },
  args: { min: 1, max: 2 },
  examples: [
    'meshctl token create --service orders',
    'meshctl token create --service orders --ttl 24h',
    'meshctl token list',
    'meshctl token revoke 3f9c0a1b2c3d4e5f',
  ],
  async run(ctx, args, values) {
    const [action = '', id] = args;
    if (!(ACTIONS as readonly string[]).includes(action))
      throw usageError(`token ${action}: use one of ${ACTIONS.join(', ')}`, 'token');
    if (action === 'revoke') {
      if (id === undefined) throw usageError('token revoke needs the ID that "meshctl token list" shows', 'token');
      return revoke(ctx, id, values);
    }
    if (id !== undefined) throw usageError(`token ${action} takes no argument, got "${id}"`, 'token');
    if (action !== 'create' && (values.service !== undefined || values.ttl !== undefined))
      throw usageError('--service and --ttl belong to token create', 'token');
    return action === 'create' ? create(ctx, values) : list(ctx, values);
  },
};
