import { usageError } from '../cli-error.js';
import { type Command, OUTPUT_OPTION, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { findResource } from '../resources.js';

/** `meshctl delete policy NAME`. */
export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete a policy written through the API (the config file or the defaults apply again)',
  usage: 'policy NAME [--resource-version N]',
  description:
    'Only policies written with apply can be deleted (404 otherwise). With --resource-version, the delete is\n' +
    'refused (409) if the policy changed since that version.',
  options: {
    'resource-version': {
      type: 'string',
      value: 'N',
      description: 'delete only if the policy is still at this version',
    },
    output: OUTPUT_OPTION,
  },
  args: { min: 2, max: 2 },
  examples: ['meshctl delete policy orders', 'meshctl delete policy orders --resource-version 12'],
  async run(ctx, args, values) {
    const [what = '', name = ''] = args;
    if (findResource(what)?.name !== 'policies')
      throw usageError(`delete works on policies only, not "${what}"`, 'delete');
    const format = parseOutputFormat(stringOption(values, 'output'), 'delete');
    const rv = stringOption(values, 'resource-version');
    if (rv !== undefined && !/^\d{1,16}$/.test(rv))
      throw usageError(`--resource-version ${rv}: use the number from get policies`, 'delete');
    const client = await ctx.client();
    const path = `/v1/policies/${encodeURIComponent(name)}${rv === undefined ? '' : `?resourceVersion=${rv}`}`;
    const body = await client.json('DELETE', path, { context: `policy/${name}` });
    ctx.io.stdout.write(format === 'table' ? `policy/${name} deleted\n` : renderDocument(format, body));
    return 0;
  },
};
