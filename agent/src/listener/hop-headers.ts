import type { IncomingMessage } from 'node:http';

/** Hop-by-hop headers (RFC 9110 7.6.1) that a proxy must not forward, lower case. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/**
 * Request headers to send upstream as undici's flat `[name, value, ...]`
 * list, straight from the raw headers: hop-by-hop ones (and any named in
 * `Connection`) dropped, `Host` replaced when `host` is given. Working on
 * the raw list spares Node building the `req.headers` object.
 */
export function rawUpstreamHeaders(req: IncomingMessage, host?: string): string[] & { hasBody?: boolean } {
  const raw = req.rawHeaders;
  const out: string[] & { hasBody?: boolean } = [];
  let named: string[] | undefined;
  let body = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // An HTTP/2 request's pseudo-headers: its `:authority` is an HTTP/1.1 request's Host.
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':authority' && host === undefined) out.push('host', raw[i + 1] as string);
      continue;
    }
    const lower = name.toLowerCase();
    if (lower === 'connection')
      named = (raw[i + 1] as string)
        .toLowerCase()
        .split(',')
        .map((s) => s.trim());
    else if (lower === 'transfer-encoding' || (lower === 'content-length' && raw[i + 1] !== '0')) body = true;
    if (HOP_BY_HOP.has(lower) || (host !== undefined && lower === 'host')) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (named) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.includes((out[i] as string).toLowerCase())) out.splice(i, 2);
  }
  if (host !== undefined) out.push('host', host);
  // Carried on the list so callers need not touch `req.headers` (built lazily by Node, and not cheap).
  if (body) out.hasBody = true;
  return out;
}
