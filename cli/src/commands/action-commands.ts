import { type Command, OUTPUT_OPTION, type OptionSpec, type OptionValues, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { cell } from '../resources.js';

type Answer = Record<string, unknown>;

/**
 * A command that POSTs to `/v1/{collection}/NAME/{action}` and prints one
 * line from the answer: drain, undrain, failover and failback.
 */
function actionCommand(o: {
  name: string;
  summary: string;
  target: 'INSTANCE' | 'SERVICE';
  description: string;
  examples: string[];
  path: (name: string) => string;
  line: (name: string, a: Answer) => string;
  options?: Record<string, OptionSpec>;
  /** JSON body of the POST, if any. */
  body?: (values: OptionValues) => unknown;
  /** A decision only the leader replica makes: a follower's refusal naming the leader is resent there once. */
  leaderOnly?: boolean;
}): Command {
  return {
    name: o.name,
    summary: o.summary,
    usage: `${o.target} [-o json|yaml]`,
    description: o.description,
    options: { ...o.options, output: OUTPUT_OPTION },
    args: { min: 1, max: 1 },
    examples: o.examples,
    async run(ctx, args, values) {
      const name = args[0] as string;
      const format = parseOutputFormat(stringOption(values, 'output'), o.name);
      const client = await ctx.client();
      const body = o.body?.(values);
      const a = await client.json<Answer>('POST', o.path(name), {
        context: `${o.name} ${name}`,
        ...(body === undefined ? {} : { body }),
        ...(o.leaderOnly
          ? {
              followLeader: (follower: string, leader: string) =>
                ctx.io.stderr.write(`note: ${follower} follows; sent to the leader at ${leader}\n`),
            }
          : {}),
      });
      ctx.io.stdout.write(format === 'table' ? `${o.line(name, a ?? {})}\n` : renderDocument(format, a));
      return 0;
    },
  };
}

const enc = encodeURIComponent;

/** Help on the leader follow-up of failover and failback. */
const LEADER_NOTE =
  'With replicas on etcd only the leader decides: when the server follows and names the leader (503\n' +
  'MESHLET_NOT_LEADER), meshctl sends the request once more to the leader, with the same token and CA,\n' +
  'and says so on stderr.';

/** `meshctl drain INSTANCE`. */
export const drainCommand = actionCommand({
  name: 'drain',
  summary: 'stop sending new requests to an instance',
  target: 'INSTANCE',
  description:
    'The instance stays in the routing table as draining until undrain; callers send it no new requests.\n' +
    'The drain is kept in the store: it survives a control-plane restart and travels in backups.',
  examples: ['meshctl drain hello-1', 'meshctl drain hello-1 --reason "kernel upgrade"'],
  options: {
    reason: { type: 'string', value: 'TEXT', description: 'why, shown in the instance reason and the drain event' },
  },
  // Always a JSON object: the route's body is optional, but an empty POST is not a JSON body.
  body: (values) => {
    const reason = stringOption(values, 'reason');
    return reason === undefined ? {} : { reason };
  },
  path: (n) => `/v1/instances/${enc(n)}/drain`,
  line: (n, a) => `instance/${cell(a.id ?? n)} (${cell(a.service)}) ${cell(a.state)}`,
});

/** `meshctl undrain INSTANCE`. */
export const undrainCommand = actionCommand({
  name: 'undrain',
  summary: 'take an instance back after a drain',
  target: 'INSTANCE',
  description: 'The instance returns to the state it was in before the drain; its health is then decided afresh.',
  examples: ['meshctl undrain hello-1'],
  path: (n) => `/v1/instances/${enc(n)}/undrain`,
  line: (n, a) => `instance/${cell(a.id ?? n)} (${cell(a.service)}) ${cell(a.state)}`,
});

/** `meshctl failover SERVICE`. */
export const failoverCommand = actionCommand({
  name: 'failover',
  summary: "move a service's traffic to its next healthy tier, and pin it there",
  target: 'SERVICE',
  description:
    'Refused (409) when no tier above the serving one has a healthy instance. Undo with failback.\n' + LEADER_NOTE,
  examples: ['meshctl failover orders'],
  leaderOnly: true,
  path: (n) => `/v1/services/${enc(n)}/failover`,
  line: (n, a) => `service/${cell(a.service ?? n)} failed over: active tier ${cell(a.activeTier)}`,
});

/** `meshctl failback SERVICE`. */
export const failbackCommand = actionCommand({
  name: 'failback',
  summary: "return a service's traffic to its lowest healthy tier now, and unpin it",
  target: 'SERVICE',
  description:
    'Skips the failback hold (failover.failbackHoldMs). Refused (409) when no lower tier is healthy.\n' + LEADER_NOTE,
  examples: ['meshctl failback orders'],
  leaderOnly: true,
  path: (n) => `/v1/services/${enc(n)}/failback`,
  line: (n, a) => `service/${cell(a.service ?? n)} failed back: active tier ${cell(a.activeTier)}`,
});
