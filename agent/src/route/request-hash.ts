import type { IncomingMessage } from 'node:http';
import { type HashKey, hashString } from '@meshlet/shared';

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The request's key for a hash balancer, or `undefined` when the request carries none. */
export function requestKey(req: IncomingMessage, path: string, key: HashKey): string | undefined {
  const name = key.name ?? '';
  switch (key.source) {
    case 'header': {
      const v = req.headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(',') : v;
    }
    case 'cookie':
      return cookie(req.headers.cookie, name);
    case 'query': {
      const q = path.indexOf('?');
      return q === -1 ? undefined : (new URLSearchParams(path.slice(q + 1)).get(name) ?? undefined);
    }
    case 'source_ip':
      return req.socket.remoteAddress;
  }
}

/** The 32-bit hash of the request's key; `undefined` (a random pick) when there is no key. */
export function requestHash(req: IncomingMessage, path: string, key: HashKey | undefined): number | undefined {
  if (!key) return undefined;
  const k = requestKey(req, path, key);
  return k === undefined || k === '' ? undefined : hashString(k);
}
