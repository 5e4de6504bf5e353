import { readFileSync } from 'node:fs';
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
import { ConfigError, MeshletError, SharedErrorCodes, type ValidationIssue } from '../errors.js';
import { compileValidator } from '../validation.js';

/** Where a config comes from: a YAML file, then the environment, then command-line flags. */
export interface ConfigSources {
  /** Command-line arguments after the program name. */
  argv: readonly string[];
  /** Environment variables; only `MESHLET_*` ones are read. */
  env: Readonly<Record<string, string | undefined>>;
}

/** A leaf setting of a config schema, with the names it goes by in the environment and on the command line. */
export interface ConfigSetting {
  /** Dotted path, such as `listeners.outbound.port`. */
  path: string;
  /** Environment variable, such as `MESHLET_LISTENERS_OUTBOUND_PORT`. */
  env: string;
  /** Flag, such as `--listeners.outbound.port`. */
  flag: string;
}

function screamingSnake(segment: string): string {
  return segment.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/**
 * Lists every scalar setting of a config schema. Records (such as labels)
 * are settable only in the file: their keys are not known in advance.
 */
export function listSettings(schema: TSchema, prefix: string[] = []): ConfigSetting[] {
  const props = (schema as Partial<TObject>).properties;
  if (schema.type === 'object' && props) {
    return Object.entries(props).flatMap(([key, child]) => listSettings(child, [...prefix, key]));
  }
  if (schema.type === 'object' || schema.type === 'array' || prefix.length === 0) return [];
  const path = prefix.join('.');
  return [{ path, env: `MESHLET_${prefix.map(screamingSnake).join('_')}`, flag: `--${path}` }];
}

function setPath(target: Record<string, unknown>, path: string, value: string): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

/** The parsed command line of a meshlet binary. */
export interface ParsedArgs {
  configFile: string | undefined;
  help: boolean;
  overrides: Array<{ path: string; value: string }>;
  issues: ValidationIssue[];
}

/** Parses `--config FILE`, `--help` and `--<setting> VALUE` / `--<setting>=VALUE`. */
export function parseArgs(argv: readonly string[], settings: readonly ConfigSetting[]): ParsedArgs {
  const byFlag = new Map(settings.map((s) => [s.flag, s]));
  const out: ParsedArgs = { configFile: undefined, help: false, overrides: [], issues: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name === '--help' || name === '-h') {
      out.help = true;
      continue;
    }
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) return undefined;
      i++;
      return next;
    };
    if (name === '--config' || name === '-c') {
      const v = takeValue();
      if (v === undefined)
        out.issues.push({ path: '--config', problem: 'needs a file name', fix: 'pass --config FILE' });
      else out.configFile = v;
      continue;
    }
    const setting = byFlag.get(name);
    if (!setting) {
      // Skip its value too: a mistyped --token flag must not have its secret echoed as "not a known flag".
      if (inline === undefined && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('-')) i++;
      const shown = name.startsWith('-') ? name : '(an argument that is not a flag)';
      out.issues.push({ path: shown, problem: 'is not a known flag', fix: 'run with --help to list the flags' });
      continue;
    }
    const v = takeValue();
    if (v === undefined)
      out.issues.push({ path: setting.path, problem: `flag ${name} needs a value`, fix: `pass ${name}=VALUE` });
    else out.overrides.push({ path: setting.path, value: v });
  }
  return out;
}

/** Renders the `--help` text of a binary from its schema. */
export function renderHelp(binary: string, schema: TSchema): string {
  const rows = listSettings(schema).map((s) => `  ${s.flag.padEnd(44)} ${s.env}`);
  return [
    `usage: ${binary} --config FILE [--setting VALUE ...]`,
    '',
    'Settings come from the YAML file, then MESHLET_* environment variables, then flags.',
    'See docs/configuration.md.',
    '',
    `  ${'flag'.padEnd(44)} environment variable`,
    ...rows,
  ].join('\n');
}

/** The result of {@link loadConfig}. */
export interface LoadedConfig<T extends TSchema> {
  config: Readonly<Static<T>>;
  /** Absolute or relative path of the file read, if any. */
  file: string | undefined;
  help: boolean;
}

/**
 * Reads, merges and validates a config once at start. Returns a frozen
 * object with defaults filled in, or throws a {@link ConfigError} that names
 * every bad field and its fix.
 */
export function loadConfig<T extends TSchema>(schema: T, sources: ConfigSources): LoadedConfig<T> {
  const settings = listSettings(schema);
  const args = parseArgs(sources.argv, settings);
  if (args.help) return { config: {} as Static<T>, file: undefined, help: true };
  if (args.issues.length > 0) throw new ConfigError('command-line flags', args.issues);

  let doc: unknown = {};
  if (args.configFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(args.configFile, 'utf8');
    } catch (e) {
      throw new MeshletError(
        SharedErrorCodes.CONFIG_UNREADABLE,
        `cannot read config file ${args.configFile}: ${(e as Error).message}. Fix: check the path given to --config`,
        { cause: e },
      );
    }
    try {
      doc = readYaml(text);
    } catch (e) {
      throw new MeshletError(
        SharedErrorCodes.CONFIG_UNREADABLE,
        `config file ${args.configFile} is not valid YAML: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new ConfigError(args.configFile, [
        { path: '', problem: 'must be a YAML mapping', fix: 'write settings as "key: value" lines' },
      ]);
    }
  }

  const merged = structuredClone(doc) as Record<string, unknown>;
  for (const s of settings) {
    const v = sources.env[s.env];
    if (v !== undefined && v !== '') setPath(merged, s.path, v);
  }
  for (const o of args.overrides) setPath(merged, o.path, o.value);

  // Values from env and flags are strings; coercion turns "15001" into 15001.
  const validate = compileValidator(schema, { useDefaults: true, coerceTypes: true });
  const result = validate(merged);
  const source = args.configFile ?? 'environment and flags';
  if (!result.ok) throw new ConfigError(source, result.issues);
  return { config: deepFreeze(result.value), file: args.configFile, help: false };
}

function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses a config file's YAML. A tag meshlet does not know (`!foo`, a typo
 * in `!!binary`) is an error naming its line, rather than a warning on
 * stderr and a value read as something else.
 */
function readYaml(text: string): unknown {
  const parsed = parseDocument(text);
  const problem = parsed.errors[0] ?? parsed.warnings[0];
  if (problem !== undefined) {
    const fix = problem.code === 'TAG_RESOLVE_FAILED' ? '; remove the tag: meshlet configs are plain YAML' : '';
    throw new Error(`${problem.message}${fix}`);
  }
  return parsed.toJS() ?? {};
}
