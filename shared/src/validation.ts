import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ValidationIssue } from './errors.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
type AddFormats = (ajv: Ajv) => Ajv;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

/** A compiled validator for one schema, returning either the typed value or the issues found. */
export type Validator<T extends TSchema> = (
  value: unknown,
) => { ok: true; value: Static<T> } | { ok: false; issues: ValidationIssue[] };

/** Options of {@link compileValidator}. */
export interface CompileOptions {
  /** Fill in schema defaults (configs: yes; wire messages: no). */
  useDefaults?: boolean;
  /** Coerce strings to numbers and booleans (for values that came from env vars and flags). */
  coerceTypes?: boolean;
}

const ajvCache = new Map<string, Ajv>();

function ajvFor(options: CompileOptions): Ajv {
  const key = `${options.useDefaults ? 1 : 0}${options.coerceTypes ? 1 : 0}`;
  let ajv = ajvCache.get(key);
  if (!ajv) {
    ajv = new Ajv({
      allErrors: true,
      useDefaults: options.useDefaults ?? false,
      coerceTypes: options.coerceTypes ?? false,
      strict: false,
      // verbose gives each error its parentSchema, where a field may carry its own `fix` text.
      verbose: true,
    });
    addFormats(ajv);
    ajvCache.set(key, ajv);
  }
  return ajv;
}

/**
 * Compiles a TypeBox schema once, on the first call of the returned
 * function: that function validates (and, with `useDefaults`, fills defaults
 * into) a value, and turns ajv's errors into issues that name the field and
 * the fix.
 *
 * Why on first use: modules build their validators at import, and ajv's
 * generated code for every schema a process might check (every protocol
 * message, config and admin body) was built before the process did
 * anything, most of it for messages a given process never receives:
 * importing `@meshlet/shared` alone took a process from 41 to 84 MiB RSS,
 * 70 MiB with this (docs/benchmarks.md, "Agent memory (issue 20)"). A
 * schema ajv cannot compile now throws at its first use instead of at
 * import: schemas are fixed in the code, so the first test that validates
 * with one shows it.
 */
export function compileValidator<T extends TSchema>(schema: T, options: CompileOptions = {}): Validator<T> {
  let validate: ValidateFunction | undefined;
  return (value: unknown) => {
    validate ??= ajvFor(options).compile(schema);
    if (validate(value)) return { ok: true, value: value as Static<T> };
    return { ok: false, issues: toIssues(validate.errors ?? []) };
  };
}

/** Turns ajv errors into {@link ValidationIssue}s, one per field, each with a fix. */
export function toIssues(errors: readonly ErrorObject[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  // A union of literals (`kind: round_robin | weighted | ...`) fails with one
  // `const` error per branch: say it once, as "must be one of", each value
  // once (the same literal union reached through two branches of an outer
  // union fails twice over).
  const consts = new Map<string, unknown[]>();
  for (const e of errors) {
    if (e.keyword !== 'const') continue;
    const list = consts.get(e.instancePath) ?? [];
    const value = (e.params as { allowedValue?: unknown }).allowedValue;
    if (!list.some((v) => JSON.stringify(v) === JSON.stringify(value))) list.push(value);
    consts.set(e.instancePath, list);
  }
  for (const e of errors) {
    const allowed = e.keyword === 'const' ? consts.get(e.instancePath) : undefined;
    const issue =
      allowed && allowed.length > 1
        ? {
            path: pointerToPath(e.instancePath),
            problem: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`,
            fix: 'pick one of the allowed values',
          }
        : toIssue(e);
    if (!issue) continue;
    const key = `${issue.path}\u0000${issue.problem}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function toIssue(e: ErrorObject): ValidationIssue | undefined {
  const issue = genericIssue(e);
  const fix = (e.parentSchema as { fix?: unknown } | undefined)?.fix;
  if (issue && typeof fix === 'string' && e.keyword !== 'required' && e.keyword !== 'additionalProperties') {
    issue.fix = fix;
  }
  return issue;
}

function genericIssue(e: ErrorObject): ValidationIssue | undefined {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path: join(path, String(p.missingProperty)),
        problem: 'is required but missing',
        fix: `add "${String(p.missingProperty)}"${path ? ` under "${path}"` : ''}`,
      };
    case 'additionalProperties': {
      // A map whose keys follow a pattern (service names): the key is not a valid name, rather than unknown.
      const patterns = Object.keys(
        (e.parentSchema as { patternProperties?: Record<string, unknown> } | undefined)?.patternProperties ?? {},
      );
      if (patterns.length > 0) {
        return {
          path: join(path, String(p.additionalProperty)),
          problem: `is not a valid name (must match ${patterns.join(' or ')})`,
          fix: 'rename it so that it matches',
        };
      }
      return {
        path: join(path, String(p.additionalProperty)),
        problem: 'is not a known field',
        fix: 'remove it or check its spelling against docs/configuration.md',
      };
    }
    case 'type':
      return { path, problem: `must be of type ${String(p.type)}`, fix: `give a value of type ${String(p.type)}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, problem: `must be ${String(p.comparison)} ${String(p.limit)}`, fix: 'use a value in range' };
    case 'minLength':
      return { path, problem: `must be at least ${String(p.limit)} characters long`, fix: 'give a non-empty value' };
    case 'maxLength':
      return { path, problem: `must be at most ${String(p.limit)} characters long`, fix: 'shorten it' };
    case 'pattern':
      return { path, problem: `must match ${String(p.pattern)}`, fix: 'change it to match the pattern' };
    case 'format':
      return { path, problem: `must be a valid ${String(p.format)}`, fix: `give a ${String(p.format)}` };
    case 'const':
      return {
        path,
        problem: `must be ${JSON.stringify(p.allowedValue)}`,
        fix: `set it to ${JSON.stringify(p.allowedValue)}`,
      };
    case 'enum':
      return {
        path,
        problem: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
        fix: 'pick one of the allowed values',
      };
    case 'anyOf':
    case 'oneOf':
      // The branch errors already say what is wrong; the union error adds nothing.
      return undefined;
    default:
      return { path, problem: e.message ?? 'is invalid', fix: 'see docs/configuration.md' };
  }
}
