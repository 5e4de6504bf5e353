import { type Command, GLOBAL_OPTIONS, type OptionSpec } from './command.js';

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, o.description] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`);
}

/** `meshctl COMMAND --help`. */
export function commandHelp(c: Command): string {
  const lines = [`meshctl ${c.name}: ${c.summary}`, '', 'Usage:', `  meshctl ${c.name} ${c.usage}`.trimEnd()];
  if (c.aliases?.length) lines.push(`  (also: ${c.aliases.join(', ')})`);
  if (c.description) lines.push('', ...c.description.split('\n'));
  if (Object.keys(c.options).length > 0) lines.push('', 'Options:', ...optionLines(c.options));
  lines.push('', 'Global options:', ...optionLines(GLOBAL_OPTIONS));
  if (c.examples.length > 0) lines.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

/** `meshctl --help`. */
export function generalHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'meshctl: operate a meshlet control plane through its admin API.',
    '',
    'Usage:',
    '  meshctl COMMAND [ARGS] [OPTIONS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Each setting comes from its flag, else its MESHCTL_* variable, else the config file, else the default.',
    'Colours only on a terminal, and never with NO_COLOR set.',
    'Exit status: 0 done; 1 the request failed (the server refused it or cannot be reached);',
    '2 the command line, the config file or an input file is wrong (nothing was sent).',
    '',
    "Run 'meshctl COMMAND --help' for a command's options and examples; docs/cli.md has the rest.",
    '',
  ].join('\n');
}
