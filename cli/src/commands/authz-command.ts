import { isServiceName, SERVICE_NAME_RULE } from '@meshlet/shared/service-name';
import { usageError } from '../cli-error.js';
import { type Command, stringOption } from '../command.js';
import { type CallersAnswer, suggestAuthzPolicy } from '../authz-suggestion.js';
import { renderDocument } from '../output.js';

const ACTIONS = ['suggest'] as const;
const MODES = ['enforce', 'audit'] as const;

/** `meshctl authz suggest SERVICE`: a least-privilege authorization policy from the callers seen. */
export const authzCommand: Command = {
  name: 'authz',
  summary: 'suggest a least-privilege authorization policy from the callers the control plane has seen',
  usage: 'suggest SERVICE [--mode enforce|audit] [-o yaml|json]',
  description:
    'Reads GET /v1/authz/SERVICE/callers (who called SERVICE since the control plane started, from the\n' +
    "callers' own reports) and prints an AuthorizationPolicy allowing exactly those services, ready for\n" +
    'meshctl apply -f. Nothing is written. Exits 1 when no caller was seen: send traffic first.',
  options: {
    mode: {
      type: 'string',
      value: 'MODE',
      description: 'the mode of the suggested policy: enforce (default) or audit',
    },
    output: { type: 'string', short: 'o', value: 'FORMAT', description: 'yaml (default, with comments) or json' },
  },
  args: { min: 2, max: 2 },
  examples: [
    'meshctl authz suggest orders',
    'meshctl authz suggest orders --mode audit | meshctl apply -f -',
    'meshctl authz suggest orders > orders-authz.yaml',
  ],
  async run(ctx, args, values) {
    const [action = '', service = ''] = args;
    if (!(ACTIONS as readonly string[]).includes(action))
      throw usageError(`authz ${action}: use one of ${ACTIONS.join(', ')}`, 'authz');
    if (!isServiceName(service))
      throw usageError(
        `authz suggest: "${service.slice(0, 100)}" is not a service name; ${SERVICE_NAME_RULE.fix}`,
        'authz',
      );
    const mode = stringOption(values, 'mode') ?? 'enforce';
    if (!(MODES as readonly string[]).includes(mode))
      throw usageError(`--mode ${mode.slice(0, 20)}: use enforce or audit`, 'authz');
    const format = stringOption(values, 'output') ?? 'yaml';
    if (format !== 'yaml' && format !== 'json')
      throw usageError(`-o ${format.slice(0, 20)}: use yaml or json`, 'authz');
    const client = await ctx.client();
    const seen = await client.get<CallersAnswer>(`/v1/authz/${encodeURIComponent(service)}/callers`);
    const suggestion = suggestAuthzPolicy(seen, mode as (typeof MODES)[number]);
    if (!suggestion) {
      ctx.io.stderr.write(
        `meshctl: no caller of ${service} was seen since ${seen.since}: send it traffic through the mesh first, or write the policy by hand (docs/security.md)\n`,
      );
      return 1;
    }
    if (format === 'json') {
      ctx.io.stdout.write(renderDocument('json', suggestion.document));
      return 0;
    }
    ctx.io.stdout.write(
      suggestion.comments.map((c) => `# ${c}\n`).join('') + renderDocument('yaml', suggestion.document),
    );
    return 0;
  },
};
