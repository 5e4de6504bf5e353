import fc from 'fast-check';

// Generated values for the fuzz tests (issue 16): odd values of every JSON
// type, and values shaped by a JSON schema (TypeBox schemas and the admin
// API's OpenAPI document are both JSON schema), right in structure and often
// wrong in their leaves.

/** The number of cases per target: `MESHLET_FUZZ_RUNS`, else the file's CI default. */
export function fuzzRuns(ciDefault: number): number {
  const n = Number(process.env.MESHLET_FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : ciDefault;
}

/** Strings that break naive code: empty, blank, control characters, paths, prototypes, huge, non-BMP. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\n\r\t',
    '../../etc/passwd',
    '%00',
    '%2e%2e%2f',
    '__proto__',
    'constructor',
    'toString',
    '-1',
    '1e309',
    'NaN',
    'null',
    'true',
    '\u202e\ufeff',
    '😀'.repeat(100),
    '\ud800',
    'a'.repeat(70_000),
    '${HOME}',
    '<script>',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

/** Numbers at and past every boundary (including ones JSON cannot carry: they become null there). */
export const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e308, -1e308, 5e-324),
  fc.integer(),
  fc.double(),
);

/** Any odd value: of the wrong type, at a boundary, or nested deep. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  oddString,
  oddNumber,
  fc.constantFrom(null, true, false, [], {}, [[[[[[[[[[[]]]]]]]]]]], Object.fromEntries([['__proto__', { a: 1 }]])),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 1, max: 60 }).map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
);

/** A JSON schema, as far as the shapes need it. */
export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  patternProperties?: Record<string, Schema>;
  items?: Schema | Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  maxLength?: number;
}

const cache = new WeakMap<Schema, fc.Arbitrary<unknown>>();

/**
 * A value shaped by `schema`: objects with the schema's field names (any
 * subset, sometimes an unknown one), arrays of shaped items, and leaves that
 * are right (a default, an enum member, a boundary, a string matching the
 * pattern) or odd (see {@link oddValue}) a fifth of the time each.
 */
export function shaped(schema: Schema, depth = 0): fc.Arbitrary<unknown> {
  const hit = depth === 0 ? cache.get(schema) : undefined;
  if (hit) return hit;
  const arb =
    depth > 6
      ? oddValue
      : fc.oneof({ weight: 4, arbitrary: rightish(schema, depth) }, { weight: 1, arbitrary: oddValue });
  if (depth === 0) cache.set(schema, arb);
  return arb;
}

function stringFor(s: Schema): fc.Arbitrary<unknown> {
  const options: fc.Arbitrary<unknown>[] = [oddString, fc.string({ maxLength: (s.maxLength ?? 20) + 2 })];
  if (s.pattern !== undefined) {
    try {
      options.push(fc.stringMatching(new RegExp(s.pattern)).filter((v) => v.length <= 300));
    } catch {
      // A pattern fast-check cannot generate from: the other options stand.
    }
  }
  if (typeof s.default === 'string') options.push(fc.constant(s.default));
  if (s.maxLength !== undefined) options.push(fc.constant('x'.repeat(s.maxLength + 1)));
  return fc.oneof(...options);
}

function numberFor(s: Schema): fc.Arbitrary<unknown> {
  const { minimum: min, maximum: max } = s;
  const edges = [min, max, min === undefined ? undefined : min - 1, max === undefined ? undefined : max + 1];
  const options: fc.Arbitrary<unknown>[] = [oddNumber];
  const known = edges.filter((v): v is number => v !== undefined);
  if (known.length > 0) options.push(fc.constantFrom(...known));
  if (min !== undefined && max !== undefined && Number.isSafeInteger(min) && Number.isSafeInteger(max))
    options.push(fc.integer({ min, max }));
  return fc.oneof(...options);
}

function rightish(s: Schema, depth: number): fc.Arbitrary<unknown> {
  const union = s.anyOf ?? s.oneOf ?? s.allOf;
  if (union && union.length > 0) return fc.oneof(...union.map((u) => shaped(u, depth + 1)));
  if ('const' in s) return fc.constant(s.const);
  if (s.enum && s.enum.length > 0) return fc.constantFrom(...s.enum);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'object': {
      const fields = Object.entries(s.properties ?? {});
      const known = fc.record(Object.fromEntries(fields.map(([k, v]) => [k, shaped(v, depth + 1)])), {
        requiredKeys: [],
      });
      const values = Object.values(s.patternProperties ?? {})[0] ?? (s.additionalProperties as Schema | undefined);
      const extra = fc.dictionary(
        fc.oneof(oddString, fc.string({ maxLength: 10 })),
        typeof values === 'object' ? shaped(values, depth + 1) : oddValue,
        { maxKeys: typeof values === 'object' ? 4 : 1 },
      );
      return fc
        .tuple(known, fc.option(extra, { freq: 3 }))
        .map(([k, e]) => (e ? Object.fromEntries([...Object.entries(e), ...Object.entries(k)]) : k));
    }
    case 'array': {
      const item = Array.isArray(s.items) ? s.items[0] : s.items;
      return fc.array(item ? shaped(item, depth + 1) : oddValue, { maxLength: 5 });
    }
    case 'string':
      return stringFor(s);
    case 'integer':
    case 'number':
      return numberFor(s);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    default:
      return oddValue;
  }
}
