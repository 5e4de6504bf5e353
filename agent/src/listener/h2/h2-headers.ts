import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { HOP_BY_HOP } from '../hop-headers.js';
import { isSpoofableIdentityHeader } from '../caller-headers.js';

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2) or that belong to one hop; `te` is kept when it is `trailers`. */
function dropped(name: string, value: unknown): boolean {
  if (name === 'te') return value !== 'trailers';
  return HOP_BY_HOP.has(name) || name === 'host' || name === 'http2-settings';
}

/**
 * The headers of an HTTP/2 request as the next hop gets them: the method,
 * `path` and `authority` (the service, or what the client said) as
 * pseudo-headers, the client's own headers without hop-by-hop ones, and,
 * with `stripIdentity`, without the `x-meshlet-*` identity headers a caller
 * could forge (the agent sets its own).
 */
export function requestHeadersH2(
  incoming: IncomingHttpHeaders,
  pseudo: { method: string; path: string; authority: string; scheme?: string },
  stripIdentity = false,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': pseudo.method,
    ':path': pseudo.path,
    ':authority': pseudo.authority,
    ':scheme': pseudo.scheme ?? 'http',
  };
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = incoming[name];
    if (value === undefined || dropped(name, value)) continue;
    if (stripIdentity && isSpoofableIdentityHeader(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The headers (or trailers) of an HTTP/2 answer as the previous hop gets them: `:status` kept, hop-by-hop ones dropped. */
export function responseHeadersH2(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58 && name !== ':status') continue;
    if (dropped(name, value)) continue;
    out[name] = value;
  }
  return out;
}

/** Adds `traceparent` and `x-request-id` when the request has none (see `addTraceContextRaw`), returning the ids. */
export function traceHeadersH2(
  headers: OutgoingHttpHeaders,
  addTrace: (raw: string[]) => { traceId: string; requestId: string },
) {
  const raw: string[] = [];
  const tp = headers.traceparent;
  const rid = headers['x-request-id'];
  if (typeof tp === 'string') raw.push('traceparent', tp);
  if (typeof rid === 'string') raw.push('x-request-id', rid);
  const ids = addTrace(raw);
  for (let i = 0; i < raw.length; i += 2) headers[raw[i] as string] = raw[i + 1] as string;
  return ids;
}
