import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, CliErrorCodes, usageError } from '../cli-error.js';
import { type Command, type CommandContext, OUTPUT_OPTION, stringOption } from '../command.js';
import { AdminClient, parseAnswer } from '../admin-client.js';
import { parseOutputFormat, renderDocument, tableWidth } from '../output.js';
import { cell } from '../resources.js';
import { formatTable } from '../table.js';

/** A managed service's failover as `GET /v1/services/NAME/failover` shows it (read defensively). */
interface FailoverView {
  service?: string;
  policy?: { switchoverTimeoutMs?: number };
  state?: {
    term?: number;
    holder?: string;
    primary?: string;
    candidates?: string[];
    switchoverTo?: string;
    switchoverCaughtUp?: boolean;
  };
  instances?: Record<string, unknown>[];
  events?: { time?: number; from?: string; to?: string; reason?: string; evidence?: { step?: string } }[];
}

/** How often `meshctl switchover` asks how the switchover is going. */
export const SWITCHOVER_POLL_MS = 250;

const path = (service: string) => `/v1/services/${encodeURIComponent(service)}`;

/** One line of a failover state: `term 7 primary pg-1 (holder pg-1) switchover to pg-2 (caught up)`. */
function stateLine(v: FailoverView): string {
  const s = v.state ?? {};
  const holder = s.holder === undefined ? 'vacant' : `holder ${cell(s.holder)}`;
  const sw =
    s.switchoverTo === undefined
      ? ''
      : ` switchover to ${cell(s.switchoverTo)}${s.switchoverCaughtUp ? ' (caught up)' : ' (catching up)'}`;
  return `term ${cell(s.term)} primary ${cell(s.primary)} (${holder}) candidates ${cell((s.candidates ?? []).join(',') || '-')}${sw}`;
}

/** The instances and the newest events of a managed service, as tables. */
function printFailover(ctx: CommandContext, v: FailoverView): void {
  const width = tableWidth(ctx.io.stdout);
  const opts = width === undefined ? {} : { maxWidth: width };
  ctx.io.stdout.write(`service/${cell(v.service)} ${stateLine(v)}\n`);
  const primary = v.state?.primary;
  ctx.io.stdout.write(
    formatTable(
      ['INSTANCE', 'ROLE', 'CHECK', 'ROUTED', 'OFFSET', 'LAG', 'PRIORITY', 'PUBLISHED'],
      (v.instances ?? []).map((i) => [
        cell(i.id),
        cell(i.role),
        i.checkHealthy === undefined ? '-' : i.checkHealthy ? 'healthy' : 'unhealthy',
        cell(i.routable),
        cell(i.replicationOffset),
        cell(i.lagBytes),
        cell(i.priority),
        i.id === primary ? 'primary' : (v.state?.candidates ?? []).includes(String(i.id)) ? 'candidate' : '-',
      ]),
      opts,
    ),
  );
  const events = (v.events ?? []).slice(-5);
  if (events.length > 0)
    ctx.io.stdout.write(
      formatTable(
        ['STEP', 'FROM', 'TO', 'REASON'],
        events.map((e) => [cell(e.evidence?.step), cell(e.from), cell(e.to), cell(e.reason)]),
        opts,
      ),
    );
}

/** `GET /v1/services/NAME/failover`, for `meshctl get failover SERVICE` too. */
export async function showFailover(ctx: CommandContext, service: string, output: unknown): Promise<number> {
  const format = parseOutputFormat(typeof output === 'string' ? output : undefined, 'get');
  const client = await ctx.client();
  const v = await client.get<FailoverView>(`${path(service)}/failover`, { context: `failover/${service}` });
  if (format === 'table') printFailover(ctx, v);
  else ctx.io.stdout.write(renderDocument(format, v));
  return 0;
}

/** Follows the switchover until `to` is published as the primary (true) or the switchover ended without it (false). */
async function follow(ctx: CommandContext, client: AdminClient, service: string, to: string, deadline: number) {
  let last = '';
  for (;;) {
    const v = await client.get<FailoverView>(`${path(service)}/failover`, { context: `failover/${service}` });
    const line = stateLine(v);
    if (line !== last) ctx.io.stderr.write(`${line}\n`);
    last = line;
    if (v.state?.primary === to && v.state.switchoverTo === undefined) return { done: true, view: v };
    if (v.state?.switchoverTo !== to || ctx.io.clock() > deadline) return { done: false, view: v };
    await sleep(SWITCHOVER_POLL_MS);
  }
}

/** Follows the switchover on `client` until done, abandoned or past its timeout (and 5 s). */
async function followOn(ctx: CommandContext, client: AdminClient, service: string, to: string) {
  const policy = (await client.get<FailoverView>(`${path(service)}/failover`)).policy;
  const deadline = ctx.io.clock() + (policy?.switchoverTimeoutMs ?? 30_000) + 5_000;
  return follow(ctx, client, service, to, deadline);
}

/** `meshctl switchover SERVICE --to INSTANCE`: a planned handover of a managed service's primary. */
export const switchoverCommand: Command = {
  name: 'switchover',
  summary: "hand a managed service's primary over to a caught-up replica, and wait for it",
  usage: 'SERVICE --to INSTANCE [-o table|json|yaml]',
  description:
    'For a service with policy.failover.mode managed (see docs/databases.md). Needs an admin token. The primary\n' +
    "waits for INSTANCE to reach its replication offset, stops taking writes, demotes and resigns; INSTANCE's\n" +
    'agent promotes it and it is published as the primary of the next term. meshctl shows each step on stderr\n' +
    'and ends with the instances: exit 0 once INSTANCE is the primary, 1 when the switchover was abandoned\n' +
    '(policy.failover.switchoverTimeoutMs) or refused (not managed, unknown instance, not a healthy replica,\n' +
    'too far behind).',
  options: {
    output: OUTPUT_OPTION,
    to: { type: 'string', value: 'INSTANCE', description: 'the instance to become the primary' },
  },
  args: { min: 1, max: 1 },
  examples: ['meshctl switchover pg --to pg-2'],
  async run(ctx, args, values) {
    const [service = ''] = args;
    const to = stringOption(values, 'to');
    if (to === undefined)
      throw usageError('switchover needs --to INSTANCE, the instance to become primary', 'switchover');
    const format = parseOutputFormat(stringOption(values, 'output'), 'switchover');
    const client = await ctx.client();
    const answer = await client.text('POST', `${path(service)}/switchover`, {
      context: `failover/${service}`,
      body: { to },
      followLeader: (follower: string, leader: string) =>
        ctx.io.stderr.write(`note: ${follower} follows; sent to the leader at ${leader}\n`),
    });
    const started = parseAnswer<FailoverView>(answer.text, 'POST', `${path(service)}/switchover`, answer.connection);
    ctx.io.stderr.write(`switchover of service/${service} to ${to} requested\n`);
    // Only the leader runs the switchover: follow it there (a follower shows none, as if it were abandoned).
    const leader =
      answer.connection.server === client.connection.server ? undefined : new AdminClient(answer.connection);
    const { done, view } = await followOn(ctx, leader ?? client, service, to).finally(() => leader?.close());
    if (format === 'table') printFailover(ctx, view);
    else ctx.io.stdout.write(renderDocument(format, { requested: started, now: view }));
    if (!done)
      throw new CliError(
        CliErrorCodes.API,
        `the switchover of service/${service} to ${to} did not complete: ${cell(view.events?.at(-1)?.reason)}; ` +
          `see meshctl get failover ${service} and meshctl get events --service ${service} --kind primary`,
      );
    ctx.io.stderr.write(`service/${service}: ${to} is the primary of term ${cell(view.state?.term)}\n`);
    return 0;
  },
};
