import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzRuns, oddString, type Schema, shaped } from '@meshlet/test-harness/fuzz-values';
import type { TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, MeshletError, SharedErrorCodes } from '../errors.js';
import { AgentConfig } from './agent-config.js';
import { ControlPlaneConfig } from './control-plane-config.js';
import { listSettings, loadConfig } from './load-config.js';

// Generated config files, environments and flags thrown at the config loader
// of both binaries (issue 16, fuzzing): whatever the operator writes, the
// loader returns a valid config or throws a MESHLET_CONFIG_* error whose
// issues each name a field path, the problem and the fix; never a TypeError,
// a RangeError or another crash. `MESHLET_FUZZ_RUNS=100000 npx vitest run
// shared/src/config/load-config.fuzz.test.ts` runs the campaign recorded in
// docs/reliability.md.

const RUNS = fuzzRuns(1000);
/** Each case takes a few milliseconds (YAML written, read, parsed and validated); the campaign gets the time it needs. */
const TIMEOUT_MS = 60_000 + RUNS * 20;
const dir = mkdtempSync(join(tmpdir(), 'meshlet-cfg-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'meshlet.yaml');

/** YAML an operator (or an attacker with write access to a template) might write: features, bombs, odd scalars. */
const yamlOddities = fc.constantFrom(
  'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c]\n',
  'listen: &l {port: 1}\nstore: *l\n',
  'base: &b {port: 99999}\nlisten:\n  <<: *b\n',
  'listen: !!binary aGVsbG8=\n',
  'listen:\n  port: !!str 15010\n',
  'dataDir: !!set {a, b}\n',
  'listen: {port: 0x3a9a}\n',
  'listen: {port: 1_000}\n',
  'listen: {port: .inf}\n',
  'listen: {port: -.nan}\n',
  'listen: {port: 2001-12-14t21:59:43.10-05:00}\n',
  '---\nlisten: {port: 1}\n---\nlisten: {port: 2}\n',
  '\ufefflisten: {port: 1}\n',
  'listen:\n\tport: 1\n',
  '? [a, b]\n: c\n',
  '? {a: 1}\n: 2\n',
  '__proto__: {port: 1}\n',
  'constructor: {prototype: {polluted: 1}}\n',
  'listen: {__proto__: {port: 1}}\n',
  'agentId: !unknown-tag x\n',
  '%YAML 1.1\n---\nlisten: {port: 010}\n',
  `${'['.repeat(5000)}${']'.repeat(5000)}\n`,
  `${'{a: '.repeat(2000)}1${'}'.repeat(2000)}\n`,
  `${'- '.repeat(1000)}x\n`,
  `agentId: "${'x'.repeat(100_000)}"\n`,
  'a: 1\na: 2\n',
  '"\\ud800": 1\n',
  '- just\n- a\n- list\n',
  '42\n',
  '"a string"\n',
  '~\n',
);

/** Random edits of a text: a character inserted, a slice deleted or doubled. */
const mutated = (text: string) =>
  fc
    .array(
      fc.tuple(
        fc.nat(),
        fc.nat({ max: 20 }),
        fc.constantFrom('insert', 'delete', 'double'),
        fc.string({ maxLength: 3 }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) =>
      edits.reduce((t, [at, len, kind, s]) => {
        const i = t.length === 0 ? 0 : at % t.length;
        if (kind === 'insert') return t.slice(0, i) + s + t.slice(i);
        if (kind === 'delete') return t.slice(0, i) + t.slice(i + len);
        return t.slice(0, i + len) + t.slice(i, i + len) + t.slice(i + len);
      }, text),
    );

const toYaml = (v: unknown): string => {
  try {
    return stringify(v, { aliasDuplicateObjects: false });
  } catch {
    return '~';
  }
};

/** YAML texts: shaped by the schema (real field names, often wrong values), those mutated, oddities, any string. */
const yamlTexts = (schema: TSchema) => {
  const doc = shaped(schema as Schema).map(toYaml);
  return fc.oneof(
    { weight: 4, arbitrary: doc },
    { weight: 2, arbitrary: doc.chain(mutated) },
    { weight: 1, arbitrary: yamlOddities },
    { weight: 1, arbitrary: yamlOddities.chain(mutated) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  );
};

const CONFIG_CODES: string[] = [SharedErrorCodes.CONFIG_INVALID, SharedErrorCodes.CONFIG_UNREADABLE];

/** The loader's contract: a config, or a MESHLET_CONFIG_* error naming each bad field, its problem and its fix. */
function holds(load: () => unknown): void {
  try {
    load();
  } catch (e) {
    if (!(e instanceof MeshletError) || !CONFIG_CODES.includes(e.code)) throw e;
    expect(e.message.length).toBeGreaterThan(0);
    if (e instanceof ConfigError) {
      expect(e.issues.length).toBeGreaterThan(0);
      for (const issue of e.issues) {
        expect(typeof issue.path).toBe('string');
        expect(issue.problem.length).toBeGreaterThan(0);
        expect(issue.fix.length).toBeGreaterThan(0);
        expect(e.message).toContain(`${issue.path || '(root)'}: ${issue.problem}. Fix: ${issue.fix}`);
      }
    } else {
      // Unreadable: the file is named (and for bad YAML, its own message says where).
      expect(e.message).toMatch(/config file /);
    }
  }
}

const binaries = [
  { name: 'agent', schema: AgentConfig },
  { name: 'control plane', schema: ControlPlaneConfig },
] as const;

describe('the config loader under generated input', () => {
  for (const { name, schema } of binaries) {
    it(
      `${name}: any YAML file gives a config or a MESHLET_CONFIG_* error naming the field and the fix`,
      () => {
        fc.assert(
          fc.property(yamlTexts(schema), (text) => {
            writeFileSync(file, text);
            holds(() => loadConfig(schema, { argv: ['--config', file], env: {} }));
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );

    it(
      `${name}: any environment and flags over any file give a config or such an error`,
      () => {
        const settings = listSettings(schema);
        const names = fc.constantFrom(...settings);
        const values = fc.oneof(oddString, fc.stringMatching(/^-?[0-9]{1,12}$/), fc.constantFrom('true', '0', '-1'));
        const flag = fc.oneof(
          fc.tuple(names, values).map(([s, v]) => [`${s.flag}=${v}`]),
          fc.tuple(names, values).map(([s, v]) => [s.flag, v]),
          names.map((s) => [s.flag]),
          fc.constantFrom(['--config'], ['-c'], ['--nope', 'secret'], ['positional'], ['--'], ['-h=1']),
        );
        const sources = fc.record({
          argv: fc.array(flag, { maxLength: 4 }).map((a) => a.flat()),
          env: fc.dictionary(
            names.map((s) => s.env),
            values,
            { maxKeys: 4 },
          ),
          text: fc.option(yamlTexts(schema), { freq: 3 }),
        });
        fc.assert(
          fc.property(sources, ({ argv, env, text }) => {
            if (text !== null) writeFileSync(file, text);
            holds(() => loadConfig(schema, { argv: text === null ? argv : ['--config', file, ...argv], env }));
          }),
          { numRuns: RUNS },
        );
      },
      TIMEOUT_MS,
    );
  }
});
