import { readFileSync } from 'node:fs';
import { type Command, OUTPUT_OPTION, stringOption } from '../command.js';
import { parseOutputFormat, renderDocument } from '../output.js';

/** meshctl's version: that of its package, `@meshlet/meshctl` (two levels up from src/commands and dist/commands alike). */
export function meshctlVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** `meshctl version`. */
export const versionCommand: Command = {
  name: 'version',
  summary: "print meshctl's version",
  usage: '[-o json|yaml]',
  options: { output: OUTPUT_OPTION },
  args: { min: 0, max: 0 },
  examples: ['meshctl version'],
  async run(ctx, _args, values) {
    const format = parseOutputFormat(stringOption(values, 'output'), 'version');
    const info = { meshctl: meshctlVersion(), node: process.version };
    ctx.io.stdout.write(
      format === 'table' ? `meshctl ${info.meshctl} (node ${info.node})\n` : renderDocument(format, info),
    );
    return 0;
  },
};
