import { parseArgs } from 'node:util';
import { usageError } from './cli-error.js';
import { type Command, GLOBAL_OPTIONS, type OptionSpec, type OptionValues } from './command.js';

/** What the command line asks for. */
export type CommandLine =
  | { kind: 'help'; command: Command | undefined }
  | { kind: 'run'; command: Command; args: string[]; values: OptionValues };

type ParseOptions = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

function parseOptions(specs: Readonly<Record<string, OptionSpec>>): ParseOptions {
  const out: ParseOptions = {};
  for (const [name, s] of Object.entries(specs)) {
    out[name] = { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  }
  return out;
}

/** Every option of every command, for the first pass that only looks for the command's name. */
function unionOptions(commands: readonly Command[]): ParseOptions {
  const out = parseOptions(GLOBAL_OPTIONS);
  for (const c of commands) {
    for (const [name, o] of Object.entries(parseOptions(c.options))) {
      // -f is repeatable in apply and restore, single in backup: the loose pass takes the widest.
      out[name] = out[name]?.multiple || o.multiple ? { ...o, multiple: true } : o;
    }
  }
  return out;
}

/** Finds a command by name or alias. */
export function findCommand(commands: readonly Command[], name: string): Command | undefined {
  return commands.find((c) => c.name === name || c.aliases?.includes(name));
}

/** The option named in a `node:util` parse error, such as `--fo`. */
function optionIn(message: string): string {
  // "Option '-w, --follow' does not take an argument", "Option '--server <value>' argument missing".
  return /'(?:-\w, )?(-[^' ]+)/.exec(message)?.[1] ?? message;
}

/** `-o=json` as `-o json`, as kubectl takes it (`node:util` takes `=` only after long options). */
function splitShortEquals(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, a] of argv.entries()) {
    if (argv.slice(0, i).includes('--')) out.push(a);
    else {
      const m = /^-([A-Za-z])=(.*)$/s.exec(a);
      if (m) out.push(`-${m[1]}`, m[2] as string);
      else out.push(a);
    }
  }
  return out;
}

/**
 * Parses the command line in two passes: the first, loose, finds the
 * command wherever the options are (`meshctl --server X get services` and
 * `meshctl get services --server X` alike); the second, strict, checks the
 * options against that command's list, so `--folow` or `apply --since` is an
 * error naming the option instead of being ignored.
 */
export function parseCommandLine(given: readonly string[], commands: readonly Command[]): CommandLine {
  const argv = splitShortEquals(given);
  const loose = parseArgs({
    args: [...argv],
    options: unionOptions(commands),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const first = loose.tokens.find((t) => t.kind === 'positional');
  if (!first) {
    if (loose.values.help || argv.length === 0) return { kind: 'help', command: undefined };
    throw usageError('no command given');
  }
  const name = first.value;
  if (name === 'help') {
    const about = loose.positionals[1];
    if (about === undefined) return { kind: 'help', command: undefined };
    const c = findCommand(commands, about);
    if (!c) throw usageError(`unknown command "${about}"`);
    return { kind: 'help', command: c };
  }
  const command = findCommand(commands, name);
  if (!command)
    throw usageError(`unknown command "${name}"; the commands are ${commands.map((c) => c.name).join(', ')}`);
  const rest = argv.filter((_a, i) => i !== first.index);
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...parseOptions(GLOBAL_OPTIONS), ...parseOptions(command.options) },
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (e) {
    const err = e as Error & { code?: string };
    switch (err.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        throw usageError(`unknown option ${optionIn(err.message)} for meshctl ${command.name}`, command.name);
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        throw usageError(
          err.message.includes('argument missing')
            ? `${optionIn(err.message)} needs a value`
            : `${optionIn(err.message)} takes no value`,
          command.name,
        );
      default:
        throw usageError(err.message, command.name);
    }
  }
  if (parsed.values.help) return { kind: 'help', command };
  const n = parsed.positionals.length;
  if (n < command.args.min)
    throw usageError(`meshctl ${command.name} needs ${command.usage.split(' [')[0]}`, command.name);
  if (n > command.args.max)
    throw usageError(`unexpected argument "${parsed.positionals[command.args.max]}"`, command.name);
  return { kind: 'run', command, args: parsed.positionals, values: parsed.values };
}
