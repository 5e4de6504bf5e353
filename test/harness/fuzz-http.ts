import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { oddString, oddValue, type Schema, shaped } from './fuzz-values.js';

// Generated admin API requests for the fuzz tests (issue 16): bodies of any
// shape and type, path parameters and query strings with odd characters,
// sent over real connections; and the contract every answer of
// an admin API must meet.

/** What one request got back. */
export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
}

// A connection per request: a server may close a connection after a refusal (a body over the limit), and a
// reused keep-alive socket would then fail for the next case, not this one.
const agent = new Agent({ keepAlive: false });

/** One request to `127.0.0.1:port` on its own connection; the body read whole (a stream answer is cut after its head). */
export function httpCall(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | undefined },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    // Framed by its length always: node sends a GET's body unframed otherwise, and the server reads it as the next request.
    const headers = { ...options.headers, ...(options.body ? { 'content-length': String(options.body.length) } : {}) };
    const req = request({ host: '127.0.0.1', port, agent, method: options.method, path: options.path, headers });
    req.on('error', reject);
    req.on('response', (res) => {
      const contentType = String(res.headers['content-type'] ?? '');
      if (contentType.startsWith('text/event-stream')) {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, contentType, text: '' });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.end(options.body);
  });
}

/** A body to send, with the headers that go with it. */
export interface BodyCase {
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'application/json-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '',
  ';;;',
);

const jsonTexts = fc.constantFrom(
  '',
  ' ',
  'null',
  '{',
  '{"a":1,}',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  '{"a":1,"a":2}',
  '"\\ud800"',
  '1e999999',
  '[' + '1,'.repeat(10_000) + '1]',
  '['.repeat(100_000) + ']'.repeat(100_000),
  '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000),
);

/**
 * Bodies for a route: JSON shaped by its schema (its field names, often wrong
 * values), any JSON value, JSON-ish texts (prototype keys, deep nesting,
 * duplicates), raw bytes, a body over the limit; each with a JSON type, an
 * odd or wrong one, or none (then with `x-meshlet-request`, half the time).
 */
export function bodyCases(schema: Schema | undefined, limitBytes = 1024 * 1024): fc.Arbitrary<BodyCase> {
  const text = fc.oneof(
    { weight: 5, arbitrary: (schema ? shaped(schema) : oddValue).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: jsonTexts },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')) },
    { weight: 1, arbitrary: fc.constant(`{"x":"${'a'.repeat(limitBytes)}"}`) },
  );
  const json = fc.record({ text, type: fc.constant('application/json') });
  const odd = fc.record({ text, type: contentTypes });
  return fc
    .tuple(fc.oneof({ weight: 3, arbitrary: json }, { weight: 1, arbitrary: odd }), fc.boolean(), fc.boolean())
    .map(([{ text: t, type }, script, omit]) => ({
      headers: {
        ...(type === '' ? {} : { 'content-type': type }),
        ...(script ? { 'x-meshlet-request': '1' } : {}),
      },
      body: omit && t === '' ? undefined : Buffer.from(t, 'latin1'),
    }));
}

/** Percent-encodes what node would refuse in a request target (controls, spaces, non-ASCII); the rest kept raw. */
const safeForTarget = (s: string) =>
  s.replace(/[^\x21-\x7e]|[#?]/g, (c) =>
    [...Buffer.from(c)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  );

/** `encodeURIComponent`, or for a lone surrogate (which it refuses) its UTF-8 replacement, encoded. */
const encode = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return safeForTarget(s);
  }
};

/** A path parameter: shaped by its schema, odd, encoded or not, or a traversal. */
export function paramValues(schema: Schema | undefined): fc.Arbitrary<string> {
  const raw = fc.oneof(
    schema ? shaped(schema).map((v) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))) : oddString,
    oddString,
    fc.constantFrom('..', '.', '%2e%2e', '%2F', 'a%2Fb', '%zz', '%', '%00', '%ff', 'a;b', 'a..b', 'x'.repeat(5000)),
  );
  return fc
    .tuple(raw, fc.boolean())
    .map(([v, enc]) => (enc ? encode(v.slice(0, 10_000)) : safeForTarget(v.slice(0, 10_000))))
    .map((v) => (v === '' ? '%20' : v));
}

/** A query string: the route's own names and odd ones, repeated, empty, with odd values and broken encodings. */
export function queryStrings(names: readonly string[]): fc.Arbitrary<string> {
  const name = fc.oneof(fc.constantFrom(...names, '__proto__', 'constructor', 'a[b]', ''), oddString);
  const value = fc.oneof(
    fc.stringMatching(/^[0-9]{1,20}$/),
    fc.constantFrom('', '-1', '0', '1.5', '1e3', '%zz', '%', '9'.repeat(40), 'health', 'drain'),
    oddString,
  );
  const pair = fc
    .tuple(name, value, fc.boolean())
    .map(([n, v, enc]) => (enc ? `${encode(n)}=${encode(v)}` : `${safeForTarget(n)}=${safeForTarget(v)}`));
  return fc.oneof(
    fc.array(pair, { maxLength: 5 }).map((p) => p.join('&')),
    fc.constantFrom('&&&', '=', '==', 'a', '%', '?', 'a=1&a=2&a=3', `a=${'b'.repeat(70_000)}`),
  );
}

/** Codes an admin API may answer with: the project's own (`MESHLET_*`). */
const CODE = /^MESHLET_[A-Z_]+$/;

/**
 * The admin API contract for one answer: a 2xx, or a 4xx whose JSON body is
 * `{error: {code: MESHLET_*, message}}` (and when the refusal is a validation
 * failure, each issue names its field path, its problem and its fix); never
 * a 5xx. Returns the problem found, or `undefined`.
 */
export function apiAnswerProblem(a: HttpAnswer): string | undefined {
  if (a.status >= 200 && a.status < 300) return undefined;
  if (a.status < 400 || a.status >= 500) return `status ${a.status}: ${a.text.slice(0, 300)}`;
  let body: { error?: { code?: unknown; message?: unknown; issues?: Array<Record<string, unknown>> } };
  try {
    body = JSON.parse(a.text) as typeof body;
  } catch {
    return `status ${a.status} with a body that is not JSON: ${a.text.slice(0, 300)}`;
  }
  const e = body.error;
  if (!e || typeof e.code !== 'string' || !CODE.test(e.code)) return `no MESHLET_* code: ${a.text.slice(0, 300)}`;
  if (typeof e.message !== 'string' || e.message.length === 0) return `no message: ${a.text.slice(0, 300)}`;
  for (const issue of e.issues ?? []) {
    if (typeof issue.path !== 'string' || typeof issue.problem !== 'string' || typeof issue.fix !== 'string')
      return `an issue without path, problem or fix: ${JSON.stringify(issue)}`;
  }
  return undefined;
}
