import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, CliErrorCodes, usageError } from '../cli-error.js';
import type { Colors } from '../colors.js';
import { type Command, type CommandContext, OUTPUT_OPTION, stringOption, type OptionValues } from '../command.js';
import { parseOutputFormat, renderDocument, tableWidth } from '../output.js';
import { formatTable } from '../table.js';

/** A CA certificate as `GET /v1/ca` shows it. */
interface CaCertificate {
  subject: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
}

/** `GET /v1/ca`. */
export interface CaStatusView {
  step: 'none' | 'adding-root' | 'switching-issuer' | 'removing-root' | 'done';
  description: string;
  generation: number;
  startedAt?: string;
  stepStartedAt?: string;
  completedAt?: string;
  activeIssuer: string;
  roots: CaCertificate[];
  issuers: CaCertificate[];
  agents: {
    connected: number;
    behind: { agentId: string; service?: string; waitingFor: string; trustGeneration?: number }[];
  };
  certificates: {
    agentId: string;
    service?: string;
    trustGeneration?: number;
    issuer?: string;
    fromActiveIssuer?: boolean;
    spiffeId?: string;
    notAfter?: string;
  }[];
}

const ACTIONS = ['status', 'rotate'] as const;
const STEPS = ['adding-root', 'switching-issuer', 'removing-root'] as const;
/** How often `ca rotate` looks at the rotation while it waits. */
const POLL_MS = 1000;
/** `ca rotate` gives up waiting (the rotation goes on) after this long by default. */
const DEFAULT_WAIT = '10m';

const shortDate = (iso: string | undefined): string =>
  iso === undefined ? '-' : iso.replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, 'Z');

/** The step as a numbered line: `step 2/3 switching-issuer: ...`. */
function stepLine(s: CaStatusView, c: Colors): string {
  const n = { 'adding-root': 1, 'switching-issuer': 2, 'removing-root': 3 }[s.step as string];
  return n === undefined ? s.description : `${c.bold(`step ${n}/3`)} ${s.step}: ${s.description}`;
}

/** `meshctl ca status` as text: the step, the roots and issuers, the agents behind, every certificate. */
export function formatCaStatus(s: CaStatusView, c: Colors, maxWidth: number | undefined): string {
  const width = maxWidth === undefined ? {} : { maxWidth };
  const out: string[] = [];
  out.push(`${stepLine(s, c)}\n`);
  out.push(`trust bundle generation ${s.generation}; active issuer ${s.activeIssuer}\n`);
  if (s.startedAt !== undefined)
    out.push(
      `rotation started ${shortDate(s.startedAt)}, this step ${shortDate(s.stepStartedAt)}` +
        `${s.completedAt === undefined ? '' : `, done ${shortDate(s.completedAt)}`}\n`,
    );
  out.push('\n');
  const certRows = (kind: string, list: CaCertificate[]): string[][] =>
    list.map((x) => [
      kind,
      x.fingerprint === s.activeIssuer ? `${x.fingerprint} *` : x.fingerprint,
      x.subject,
      shortDate(x.notAfter),
    ]);
  out.push(
    formatTable(
      ['KIND', 'FINGERPRINT', 'SUBJECT', 'EXPIRES'],
      [...certRows('root', s.roots), ...certRows('issuer', s.issuers)],
      width,
    ),
  );
  out.push('\n');
  const behind = s.agents.behind;
  out.push(
    behind.length === 0
      ? `${c.green('no agent behind')} (${s.agents.connected} connected)\n`
      : `${c.yellow(`${behind.length} of ${s.agents.connected} agents behind`)}: ` +
          behind
            .slice(0, 10)
            .map((b) => `${b.agentId} (${b.waitingFor})`)
            .join(', ') +
          (behind.length > 10 ? ', ...' : '') +
          '\n',
  );
  if (s.certificates.length > 0) {
    out.push('\n');
    out.push(
      formatTable(
        ['AGENT', 'SERVICE', 'BUNDLE', 'ISSUER', 'EXPIRES'],
        s.certificates.map((x) => [
          x.agentId,
          x.service ?? '-',
          x.trustGeneration === undefined ? '-' : String(x.trustGeneration),
          x.issuer === undefined ? '-' : x.fromActiveIssuer ? c.green('active') : c.yellow('previous'),
          shortDate(x.notAfter),
        ]),
        width,
      ),
    );
  }
  return out.join('');
}

async function status(ctx: CommandContext, values: OptionValues): Promise<number> {
  const format = parseOutputFormat(stringOption(values, 'output'), 'ca');
  const client = await ctx.client();
  const body = await client.get<CaStatusView>('/v1/ca');
  ctx.io.stdout.write(
    format === 'table' ? formatCaStatus(body, ctx.colors, tableWidth(ctx.io.stdout)) : renderDocument(format, body),
  );
  return 0;
}

function parseWait(text: string): number {
  const m = /^(\d{1,6})(s|m|h)$/.exec(text);
  if (!m) throw usageError(`ca rotate: --wait "${text.slice(0, 40)}" is not a duration such as 30s, 10m or 1h`, 'ca');
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
}

async function rotate(ctx: CommandContext, values: OptionValues): Promise<number> {
  const waitMs = parseWait(stringOption(values, 'wait') ?? DEFAULT_WAIT);
  const client = await ctx.client();
  let s = await client.json<CaStatusView>('POST', '/v1/ca/rotate', { context: 'root rotation' });
  const err = ctx.io.stderr;
  err.write(`root rotation started (trust bundle generation ${s.generation})\n`);
  if (values['no-wait'] === true) {
    err.write('it goes on by itself; follow it with: meshctl ca status\n');
    return 0;
  }
  const deadline = Date.now() + waitMs;
  let said = '';
  /** The first step not printed yet. */
  let next = 0;
  for (;;) {
    // A step can begin and end between two looks (removing-root often lasts one 500 ms tick of the
    // leader): it is named all the same, so the output always shows the three steps in order.
    const at = s.step === 'done' ? STEPS.length : STEPS.indexOf(s.step as (typeof STEPS)[number]);
    for (; next < at; next++)
      err.write(`${ctx.colors.bold(`step ${next + 1}/3`)} ${STEPS[next]}: begun and done between two looks\n`);
    next = Math.max(next, at + 1);
    const line = `${stepLine(s, ctx.colors)} (${s.agents.behind.length} of ${s.agents.connected} agents behind)`;
    if (line !== said) err.write(`${line}\n`);
    said = line;
    if (s.step === 'done') {
      ctx.io.stdout.write(`root rotation done: the only root is ${s.roots.map((r) => r.fingerprint).join(', ')}\n`);
      return 0;
    }
    if (Date.now() >= deadline)
      throw new CliError(
        CliErrorCodes.STILL_WAITING,
        `the root rotation is still at ${s.step} after ${stringOption(values, 'wait') ?? DEFAULT_WAIT}; it goes on by ` +
          'itself: meshctl ca status shows the agents it waits for',
      );
    await sleep(POLL_MS);
    s = await client.get<CaStatusView>('/v1/ca');
  }
}

/** `meshctl ca status|rotate`: the mesh's certificate authority and its root rotation. */
export const caCommand: Command = {
  name: 'ca',
  summary: "show the mesh's CA and every agent's certificate; rotate its root without downtime",
  usage: 'status | rotate [--wait 10m | --no-wait]',
  description:
    'status shows the trust bundle (roots and issuers), the issuer that signs, the step of any root\n' +
    "rotation with the agents it waits for, and every connected agent's certificate.\n" +
    'rotate makes a new root and issuer and moves in three steps, each waiting for proof from every\n' +
    'connected agent: add the new root to every trust bundle (ACKed in the routing table), sign with\n' +
    'the new issuer (every agent renews), remove the old root. It prints each step; it goes on by\n' +
    'itself if meshctl stops waiting, and through another replica if this one dies.',
  options: {
    wait: { type: 'string', value: 'DURATION', description: `rotate: how long to follow it (default ${DEFAULT_WAIT})` },
    'no-wait': { type: 'boolean', description: 'rotate: start it and return' },
    output: OUTPUT_OPTION,
  },
  args: { min: 1, max: 1 },
  examples: ['meshctl ca status', 'meshctl ca rotate', 'meshctl ca rotate --no-wait'],
  async run(ctx, args, values) {
    const [action = ''] = args;
    if (!(ACTIONS as readonly string[]).includes(action))
      throw usageError(`ca ${action}: use one of ${ACTIONS.join(', ')}`, 'ca');
    if (action === 'status' && (values.wait !== undefined || values['no-wait'] !== undefined))
      throw usageError('--wait and --no-wait belong to ca rotate', 'ca');
    return action === 'status' ? status(ctx, values) : rotate(ctx, values);
  },
};
