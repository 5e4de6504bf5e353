import type { AdminClient } from './admin-client.js';
import type { CliIo } from './cli-io.js';
import type { Colors } from './colors.js';

/** One option of a command, as `node:util` `parseArgs` takes it, plus its help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder in help, such as `FILE`. */
  value?: string;
  description: string;
}

/** Parsed values of a command's options. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command gets to run. */
export interface CommandContext {
  io: CliIo;
  colors: Colors;
  /** Connects on first use: `version` and `--help` never read the config. */
  client(): Promise<AdminClient>;
}

/** A meshctl command: its help and its action. */
export interface Command {
  name: string;
  aliases?: readonly string[];
  /** One line for the command list. */
  summary: string;
  /** Arguments after the name, such as `RESOURCE [NAME]`. */
  usage: string;
  /** Paragraphs of help after the usage line. */
  description?: string;
  /** Options besides the global ones. */
  options: Readonly<Record<string, OptionSpec>>;
  /** Bounds on positional arguments. */
  args: { min: number; max: number };
  examples: readonly string[];
  /** Runs the command; resolves with the exit status. */
  run(ctx: CommandContext, args: readonly string[], values: OptionValues): Promise<number>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  server: {
    type: 'string',
    value: 'URL',
    description: 'control plane URL (env MESHCTL_SERVER, config server:; default http://127.0.0.1:15010)',
  },
  token: {
    type: 'string',
    value: 'TOKEN',
    description: 'bearer token (env MESHCTL_TOKEN, config token:); never printed',
  },
  config: {
    type: 'string',
    value: 'FILE',
    description: 'meshctl config file (env MESHCTL_CONFIG; default ~/.config/meshctl/config.yaml)',
  },
  'ca-file': {
    type: 'string',
    value: 'FILE',
    description: 'PEM CA bundle for https with a private CA (env MESHCTL_CA_FILE, config caFile:)',
  },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

/** The `-o` option of commands that print API answers. */
export const OUTPUT_OPTION: OptionSpec = {
  type: 'string',
  short: 'o',
  value: 'FORMAT',
  description: 'table (default), json or yaml',
};

/** A string option's value, if given. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A repeatable string option's values. */
export function listOption(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}
