import type { IncomingMessage } from 'node:http';

/** The service a request is for and the path to send it on. */
export interface RequestTarget {
  service: string;
  path: string;
}

function hostname(hostHeader: string): string {
  // "[::1]:15001" -> "::1", "hello:80" -> "hello"
  if (hostHeader.startsWith('[')) return hostHeader.slice(1, hostHeader.indexOf(']'));
  const colon = hostHeader.indexOf(':');
  return (colon === -1 ? hostHeader : hostHeader.slice(0, colon)).toLowerCase();
}

/**
 * Finds the target of an outbound request, in the two forms an app uses:
 * HTTP_PROXY style absolute form (`GET http://hello/path`), or origin form
 * with the service in `Host` (`GET /path`, `Host: hello`).
 */
export function requestTarget(req: IncomingMessage): RequestTarget | undefined {
  const url = req.url ?? '/';
  if (!url.startsWith('/')) {
    try {
      const u = new URL(url);
      const service = u.hostname.toLowerCase().replace(/^\[|\]$/g, '');
      return service ? { service, path: `${u.pathname}${u.search}` } : undefined;
    } catch {
      return undefined;
    }
  }
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined);
  const service = host ? hostname(host) : '';
  return service ? { service, path: url } : undefined;
}
