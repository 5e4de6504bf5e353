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
 * The header names a `Connection` value adds to the hop-by-hop ones, lower
 * case and trimmed; undefined when it names none beyond them, as nearly
 * every message does (`keep-alive`): the caller then skips its second
 * pass over the headers. Read
 * per message on the hot path, hence no array unless one is needed.
 */
export function connectionNamed(value: string): string[] | undefined {
  let named: string[] | undefined;
  let start = 0;
  const lower = value.toLowerCase();
  while (start <= lower.length) {
    let end = lower.indexOf(',', start);
    if (end < 0) end = lower.length;
    const token = lower.slice(start, end).trim();
    if (token !== '' && !HOP_BY_HOP.has(token)) (named ??= []).push(token);
    start = end + 1;
  }
  return named;
}

/** Drops from a flat `[name, value, ...]` list the headers named in `Connection` (see {@link connectionNamed}). */
export function dropNamed(list: string[], named: readonly string[]): void {
  for (let i = list.length - 2; i >= 0; i -= 2)
    if (named.includes((list[i] as string).toLowerCase())) list.splice(i, 2);
}

/**
 * Request headers to send upstream as undici's flat `[name, value, ...]`
 * list, straight from the raw headers: hop-by-hop ones (and any named in
 * `Connection`) dropped, `Host` replaced when `host` is given, and any
 * header `drop` says yes to (given its lower-case name) left out in the
 * same pass. Working on the raw list spares Node building the
 * `req.headers` object.
 */
export function rawUpstreamHeaders(
  req: IncomingMessage,
  host?: string,
  drop?: (lowerName: string) => boolean,
): string[] & { hasBody?: boolean } {
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
    if (lower === 'connection') {
      const more = connectionNamed(raw[i + 1] as string);
      if (more) (named ??= []).push(...more);
    } else if (lower === 'transfer-encoding' || (lower === 'content-length' && raw[i + 1] !== '0')) body = true;
    if (HOP_BY_HOP.has(lower) || (host !== undefined && lower === 'host') || drop?.(lower) === true) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (named) dropNamed(out, named);
  if (host !== undefined) out.push('host', host);
  // Carried on the list so callers need not touch `req.headers` (built lazily by Node, and not cheap).
  if (body) out.hasBody = true;
  return out;
}
