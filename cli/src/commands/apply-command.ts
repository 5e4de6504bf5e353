import { CliError, CliErrorCodes, usageError } from '../cli-error.js';
import { type Command, listOption, OUTPUT_OPTION, stringOption } from '../command.js';
import { inputName, readInput } from '../input-file.js';
import { parseOutputFormat, renderDocument } from '../output.js';
import { parsePolicyFile, POLICY_KINDS, type PolicyDocument } from '../policy-file.js';
import { cell } from '../resources.js';

/** `meshctl apply -f FILE`. */
export const applyCommand: Command = {
  name: 'apply',
  summary: 'write service policies and authorization policies from a YAML or JSON file',
  usage: '-f FILE [-f FILE ...] [-o json|yaml]',
  description:
    'Each document is { kind: Policy | AuthorizationPolicy, service: NAME, policy: {...}, resourceVersion?: "N" };\n' +
    'a file may hold one, a list, or several YAML documents separated by ---. -f - reads stdin. A Policy is sent\n' +
    'as PUT /v1/policies/NAME, an AuthorizationPolicy as PUT /v1/authz/NAME (what meshctl authz suggest prints).\n' +
    'With resourceVersion, the write is refused (409) if someone changed the policy since that version.\n' +
    'Every file is checked before anything is sent. A refused document does not stop the others; the exit\n' +
    'status is then 1.',
  options: {
    filename: {
      type: 'string',
      short: 'f',
      multiple: true,
      value: 'FILE',
      description: 'policy file (YAML or JSON), - for stdin; repeatable',
    },
    output: OUTPUT_OPTION,
  },
  args: { min: 0, max: 0 },
  examples: [
    'meshctl apply -f orders-policy.yaml',
    'cat policies.json | meshctl apply -f -',
    'meshctl authz suggest orders | meshctl apply -f -',
  ],
  async run(ctx, _args, values) {
    const files = listOption(values, 'filename');
    if (files.length === 0) throw usageError('apply needs -f FILE', 'apply');
    const format = parseOutputFormat(stringOption(values, 'output'), 'apply');
    const docs: PolicyDocument[] = [];
    for (const file of files) docs.push(...parsePolicyFile(await readInput(file, ctx.io), inputName(file)));
    const seen = new Map<string, string>();
    for (const d of docs) {
      const first = seen.get(`${d.kind}/${d.service}`);
      if (first !== undefined)
        throw new CliError(
          CliErrorCodes.FILE,
          `${d.where}: ${d.kind} of service ${d.service} is already configured at ${first}; keep one document per service and kind`,
        );
      seen.set(`${d.kind}/${d.service}`, d.where);
    }
    const client = await ctx.client();
    const applied: unknown[] = [];
    let failed = 0;
    for (const d of docs) {
      const { path, noun } = POLICY_KINDS[d.kind];
      try {
        const item = await client.json<{ resourceVersion?: unknown }>(
          'PUT',
          `${path}${encodeURIComponent(d.service)}`,
          {
            body: {
              policy: d.policy,
              ...(d.resourceVersion !== undefined ? { resourceVersion: d.resourceVersion } : {}),
            },
            context: `${noun}/${d.service} (${d.where})`,
          },
        );
        applied.push(item);
        if (format === 'table')
          ctx.io.stdout.write(`${noun}/${d.service} configured (resourceVersion ${cell(item?.resourceVersion)})\n`);
      } catch (e) {
        // A connection or token problem fails every document alike: say it once.
        if (!(e instanceof CliError) || e.code !== CliErrorCodes.API) throw e;
        ctx.io.stderr.write(`meshctl: ${e.message}\n`);
        failed++;
      }
    }
    if (format !== 'table')
      ctx.io.stdout.write(
        renderDocument(format, applied.length === 1 && docs.length === 1 ? applied[0] : { items: applied }),
      );
    return failed > 0 ? 1 : 0;
  },
};
