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

/**
 * Reads the shard key of a request as `key` says. A key given twice (a
 * repeated header or query parameter) is refused rather than one of them
 * picked: a hop in front that reads the other one would route the same
 * request elsewhere. A path segment and a query value are percent-decoded;
 * a header is taken as it came.
 */
export function extractShardKey(key: ShardKey, req: KeySource): ExtractedKey {
  const what = describeShardKey(key);
  if ('header' in key) {
    const name = key.header.toLowerCase();
    const value = req.headers[name];
    if (value === undefined) return { missing: `the request has no ${what}` };
    if (Array.isArray(value) || (req.rawHeaders !== undefined && countHeader(req.rawHeaders, name) > 1))
      return { invalid: `the ${what} is repeated; send it once` };
    return { key: value };
  }
  const q = req.path.indexOf('?');
  if ('query' in key) {
    if (q === -1) return { missing: `the request has no ${what}` };
    const values = new URLSearchParams(req.path.slice(q + 1)).getAll(key.query);
    if (values.length === 0) return { missing: `the request has no ${what}` };
    if (values.length > 1) return { invalid: `the ${what} is repeated; send it once` };
    return { key: values[0] as string };
  }
  const segments = (q === -1 ? req.path : req.path.slice(0, q)).split('/');
  // segments[0] is what precedes the leading "/": the first segment is segments[1].
  const raw = segments[key.pathSegment + 1];
  if (raw === undefined || raw === '') return { missing: `the request path has no ${what}` };
  try {
    return { key: decodeURIComponent(raw) };
  } catch {
    return { invalid: `the ${what} has a broken percent-encoding` };
  }
}
