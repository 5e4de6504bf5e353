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

/**
 * The 32-bit hash the data path gives a request whose `source` (a hash
 * balancer's `hashKey.source`) carries `key`, written as the app means it
 * (the shard API's `?key=`, a UTF-8 string). A header or cookie value is
 * hashed as node reads its bytes, as Latin-1 (the UTF-8 bytes of `ö` read
 * as `Ã¶`): so a non-ASCII key is hashed here as the Latin-1 reading of its
 * UTF-8 bytes, which is what a request carrying it gets. Requests are
 * hashed as they always were (changing that would move every non-ASCII key
 * on upgrade, and agents of two versions would disagree on their owners);
 * an ASCII key hashes the same either way.
 */
export function keyHash(key: string, source: HashKey['source'] | undefined): number {
  if ((source === 'header' || source === 'cookie') && /[\u0080-\uffff]/.test(key))
    return hashString(Buffer.from(key, 'utf8').toString('latin1'));
  return hashString(key);
}

/** The 32-bit hash of the request's key; `undefined` (a random pick) when there is no key. */
export function requestHash(req: IncomingMessage, path: string, key: HashKey | undefined): number | undefined {
  if (!key) return undefined;
  const k = requestKey(req, path, key);
  return k === undefined || k === '' ? undefined : hashString(k);
}
