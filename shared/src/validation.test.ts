import { type TSchema, Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { AgentConfig } from './config/agent-config.js';
import { ControlPlaneConfig } from './config/control-plane-config.js';
import { AuthzPolicy } from './protocol/authz-policy.js';
import { ServicePolicy } from './protocol/policy.js';
import { compileValidator } from './validation.js';

type Node = Record<string, unknown>;

/**
 * Every enum-ish field of a schema (a union of literals, or an `enum`): where
 * it is, as a path of keys, and its allowed values. Arrays are entered at
 * index 0, maps at a key `x`.
 */
function enumFields(schema: unknown, path: string[] = [], out: { path: string[]; values: unknown[] }[] = []) {
  const s = schema as Node;
  if (typeof s !== 'object' || s === null) return out;
  const branches = (s.anyOf ?? s.oneOf) as Node[] | undefined;
  if (branches?.length && branches.every((b) => 'const' in b)) {
    out.push({ path, values: branches.map((b) => b.const) });
    return out;
  }
  if (Array.isArray(s.enum)) {
    out.push({ path, values: s.enum });
    return out;
  }
  for (const b of branches ?? []) enumFields(b, path, out);
  for (const [k, v] of Object.entries((s.properties ?? {}) as Node)) enumFields(v, [...path, k], out);
  for (const v of Object.values((s.patternProperties ?? {}) as Node)) enumFields(v, [...path, 'x'], out);
  if (s.items) enumFields(s.items, [...path, '0'], out);
  return out;
}

/** An object with `value` at `path` (arrays where the key is a number). */
function valueAt(path: string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  return head === '0' ? [valueAt(rest, value)] : { [head]: valueAt(rest, value) };
}

const SCHEMAS: [string, TSchema][] = [
  ['ServicePolicy', ServicePolicy],
  ['AuthzPolicy', AuthzPolicy],
  ['AgentConfig', AgentConfig],
  ['ControlPlaneConfig', ControlPlaneConfig],
];

describe('compileValidator on enum-ish fields', () => {
  it('an invalid balancer.kind lists each allowed value once, in one issue', () => {
    const result = compileValidator(ServicePolicy, { useDefaults: true })({ balancer: { kind: 'fastest' } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toEqual([
      {
        path: 'balancer.kind',
        problem:
          'must be one of "round_robin", "weighted", "random", "least_request", "peak_ewma", "ring_hash", "maglev"',
        fix: 'pick one of the allowed values',
      },
    ]);
  });

  it('lists each value once when the same literal union is reached through two branches of a union', () => {
    const Kind = Type.Union([Type.Literal('a'), Type.Literal('b')]);
    const schema = Type.Union([
      Type.Object({ kind: Kind, size: Type.Number() }),
      Type.Object({ kind: Kind, name: Type.String() }),
    ]);
    const result = compileValidator(schema)({ kind: 'c', size: 1 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.filter((i) => i.path === 'kind')).toEqual([
      { path: 'kind', problem: 'must be one of "a", "b"', fix: 'pick one of the allowed values' },
    ]);
  });

  for (const [name, schema] of SCHEMAS) {
    const fields = enumFields(schema);
    it(`${name}: every enum-ish field (${fields.length}) names each allowed value once when given a wrong one`, () => {
      expect(fields.length).toBeGreaterThan(0);
      const validate = compileValidator(schema, { useDefaults: true });
      for (const field of fields) {
        const result = validate(valueAt(field.path, 'not-an-allowed-value'));
        expect(result.ok, field.path.join('.')).toBe(false);
        if (result.ok) continue;
        const text = result.issues
          .filter((i) => i.path === field.path.join('.'))
          .map((i) => i.problem)
          .join('; ');
        for (const v of field.values)
          expect(text.split(JSON.stringify(v)).length - 1, `${field.path.join('.')}: ${text}`).toBe(1);
      }
    });
  }
});
