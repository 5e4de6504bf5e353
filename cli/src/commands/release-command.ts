import { usageError } from '../cli-error.js';
import { type Command, OUTPUT_OPTION, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { cell } from '../resources.js';

const KINDS: Readonly<Record<string, { path: string; noun: 'lock' | 'election'; token: string }>> = {
  lock: { path: '/v1/locks/', noun: 'lock', token: 'token' },
  locks: { path: '/v1/locks/', noun: 'lock', token: 'token' },
  election: { path: '/v1/elections/', noun: 'election', token: 'term' },
  elections: { path: '/v1/elections/', noun: 'election', token: 'term' },
};

/** `meshctl release lock|election SERVICE/NAME`: an operator's forced release. */
export const releaseCommand: Command = {
  name: 'release',
  summary: 'force an application lock or election free, whoever holds it',
  usage: 'lock|election SERVICE/NAME [-o json|yaml]',
  description:
    'For a holder that is stuck (its app hangs but keeps renewing). Needs an admin token. The holder is told\n' +
    'it lost the lock (reason forced, with your token name), the event log records who forced it, and the\n' +
    'next holder gets a larger fencing token (or term), so a resource that checks tokens refuses the old\n' +
    'holder. 404 when it is free: see meshctl get locks (or get elections).',
  options: { output: OUTPUT_OPTION },
  args: { min: 2, max: 2 },
  examples: ['meshctl release lock orders/nightly-report', 'meshctl release election billing/leader'],
  async run(ctx, args, values) {
    const [what = '', target = ''] = args;
    const kind = KINDS[what];
    if (kind === undefined) throw usageError(`release works on lock and election, not "${what}"`, 'release');
    const m = /^([^/]+)\/([^/]+)$/.exec(target);
    if (!m) throw usageError(`${target}: give SERVICE/NAME, such as orders/nightly-report`, 'release');
    const [, service = '', name = ''] = m;
    const format = parseOutputFormat(stringOption(values, 'output'), 'release');
    const client = await ctx.client();
    const path = `${kind.path}${encodeURIComponent(service)}/${encodeURIComponent(name)}`;
    const body = await client.json<Record<string, unknown>>('DELETE', path, {
      context: `${kind.noun}/${target}`,
      // With replicas, the leader forces releases: a follower's refusal naming it is resent there once.
      followLeader: (follower: string, leader: string) =>
        ctx.io.stderr.write(`note: ${follower} follows; sent to the leader at ${leader}\n`),
    });
    const before = (body?.[kind.noun] ?? {}) as Record<string, unknown>;
    const holder = (before.holder ?? {}) as Record<string, unknown>;
    ctx.io.stdout.write(
      format === 'table'
        ? `${kind.noun}/${target} released (was held by ${cell(holder.agentId)}/${cell(holder.instanceId)}, ${kind.token} ${cell(before.token)})\n`
        : renderDocument(format, body),
    );
    return 0;
  },
};
