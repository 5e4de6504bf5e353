import type { IncomingHttpHeaders } from 'node:http';
import type { ShardKey } from '@meshlet/shared';

/** The parts of a request a shard key is read from. */
export interface KeySource {
  headers: IncomingHttpHeaders;
  /** Header names and values as they came, to tell a repeated header (node joins its values). */
  rawHeaders?: readonly string[];
  /** The path with its query, as the request named it. */
  path: string;
}

/** A request's shard key, or why it has none (`missing`) or an unusable one (`invalid`). */
export type ExtractedKey = { key: string } | { missing: string } | { invalid: string };

/** How the policy's key reads in messages: `header "x-tenant"`, `query parameter "id"`, `path segment 1`. */
export function describeShardKey(key: ShardKey): string {
  if ('header' in key) return `header ${JSON.stringify(key.header)}`;
  if ('query' in key) return `query parameter ${JSON.stringify(key.query)}`;
  return `path segment ${key.pathSegment}`;
}

function countHeader(raw: readonly string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) n++;
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A header value as the client wrote it: node reads header bytes as
 * Latin-1 (one character per byte), so the UTF-8 bytes of `ö` arrive as
 * `Ã¶`; they are decoded as UTF-8 here, as the shard API's `?key=` is.
 * `undefined` when the bytes are not valid UTF-8.
 */
export function headerText(value: string): string | undefined {
  // ASCII (the common case) reads the same either way.
  if (!/[\u0080-\uffff]/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return undefined;
  }
}

/** Whether a decoded path segment, or a part of it between `/` or `\`, is a dot segment (`.` or `..`). */
const hasDotPart = (segment: string): boolean => segment.split(/[/\\]/).some((p) => p === '.' || p === '..');

/**
 * Why the path would be read another way by a hop that normalizes it (as
 * `new URL` does for an absolute-form request, or an app's router): a dot
 * segment anywhere (`.`, `..`, `%2e%2e`, and one hidden behind an encoded
 * slash) could remove the key's segment or shift the segments before it; an
 * encoded `/` or a `\` (raw or encoded) in a segment up to the key's could
 * add one. `undefined` when the segments read the same every way.
 */
function ambiguousPath(raw: readonly string[], keyIndex: number): string | undefined {
  for (let i = 1; i < raw.length; i++) {
    const seg = raw[i] as string;
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      continue; // a broken encoding after the key's segment is the app's business; the key's own is checked below
    }
    if (hasDotPart(decoded))
      return `segment ${i - 1} of the request path is a dot segment ("." or "..", maybe percent-encoded)`;
    if (i <= keyIndex + 1 && /[/\\]/.test(decoded))
      return `segment ${i - 1} of the request path has an encoded "/" or a "\\"`;
  }
  return undefined;
}

/**
 * Reads the shard key of a request as `key` says. A key given twice (a
 * repeated header or query parameter) is refused rather than one of them
 * picked: a hop in front that reads the other one would route the same
 * request elsewhere. An empty key (`x-key:` with no value, `?k=`) is no key.
 * A header is decoded as UTF-8 (invalid UTF-8 is refused); a path segment
 * and a query value are percent-decoded. A path keyed by segment is refused
 * when a hop that normalizes paths could read another segment as the key
 * (dot segments, encoded slashes: see {@link ambiguousPath}).
 */
export function extractShardKey(key: ShardKey, req: KeySource): ExtractedKey {
  const what = describeShardKey(key);
  if ('header' in key) {
    const name = key.header.toLowerCase();
    const value = req.headers[name];
    if (value === undefined || value === '') return { missing: `the request has no ${what}` };
    if (Array.isArray(value) || (req.rawHeaders !== undefined && countHeader(req.rawHeaders, name) > 1))
      return { invalid: `the ${what} is repeated; send it once` };
    const text = headerText(value);
    if (text === undefined) return { invalid: `the ${what} is not valid UTF-8; send the key's UTF-8 bytes` };
    return { key: text };
  }
  const q = req.path.indexOf('?');
  if ('query' in key) {
    if (q === -1) return { missing: `the request has no ${what}` };
    const values = new URLSearchParams(req.path.slice(q + 1)).getAll(key.query);
    if (values.length === 0) return { missing: `the request has no ${what}` };
    if (values.length > 1) return { invalid: `the ${what} is repeated; send it once` };
    if (values[0] === '') return { missing: `the request has an empty ${what}` };
    return { key: values[0] as string };
  }
  const segments = (q === -1 ? req.path : req.path.slice(0, q)).split('/');
  // segments[0] is what precedes the leading "/": the first segment is segments[1].
  const raw = segments[key.pathSegment + 1];
  if (raw === undefined || raw === '') return { missing: `the request path has no ${what}` };
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return { invalid: `the ${what} has a broken percent-encoding` };
  }
  const ambiguous = ambiguousPath(segments, key.pathSegment);
  if (ambiguous !== undefined)
    return {
      invalid: `${ambiguous}, so the ${what} could be read as another segment by a hop that normalizes the path; send the path without it`,
    };
  return { key: decoded };
}
