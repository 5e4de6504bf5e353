import { usageError } from '../cli-error.js';
import { type Command, OUTPUT_OPTION, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { findResource } from '../resources.js';

/** What each deletable resource is called and where it lives. */
const DELETABLE: Readonly<Record<string, { path: string; noun: string; get: string }>> = {
  policies: { path: '/v1/policies/', noun: 'policy', get: 'meshctl get policies' },
  authz: { path: '/v1/authz/', noun: 'authorizationpolicy', get: 'meshctl get authz' },
  services: { path: '/v1/services/', noun: 'service', get: 'meshctl get services' },
};

/** `meshctl delete policy|authz|service NAME`. */
export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete a policy or authorization policy written through the API, or a service name nothing uses',
  usage: 'policy|authz|service NAME [--resource-version N]',
  description:
    'Only policies written with apply can be deleted (404 otherwise). With --resource-version, the delete is\n' +
    'refused (409) if the policy changed since that version. A service is forgotten only when it has no\n' +
    'instance listed and no policy (409 says which holds it).',
  options: {
    'resource-version': {
      type: 'string',
      value: 'N',
      description: 'delete only if the (authorization) policy is still at this resourceVersion',
    },
    output: OUTPUT_OPTION,
  },
  args: { min: 2, max: 2 },
  examples: [
    'meshctl delete policy orders',
    'meshctl delete policy orders --resource-version 12',
    'meshctl delete authz orders',
    'meshctl delete service typo-svc',
  ],
  async run(ctx, args, values) {
    const [what = '', name = ''] = args;
    const target = DELETABLE[findResource(what)?.name ?? ''];
    if (target === undefined)
      throw usageError(`delete works on policies, authz and services only, not "${what}"`, 'delete');
    const format = parseOutputFormat(stringOption(values, 'output'), 'delete');
    const rv = stringOption(values, 'resource-version');
    if (rv !== undefined && target.noun === 'service')
      throw usageError('--resource-version applies to policies only: a service has none', 'delete');
    if (rv !== undefined && !/^\d{1,16}$/.test(rv))
      throw usageError(`--resource-version ${rv}: use the resourceVersion number from ${target.get} ${name}`, 'delete');
    const client = await ctx.client();
    const path = `${target.path}${encodeURIComponent(name)}${rv === undefined ? '' : `?resourceVersion=${rv}`}`;
    const body = await client.json('DELETE', path, { context: `${target.noun}/${name}` });
    ctx.io.stdout.write(format === 'table' ? `${target.noun}/${name} deleted\n` : renderDocument(format, body));
    return 0;
  },
};
