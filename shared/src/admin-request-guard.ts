import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { ADMIN_REQUEST_HEADER } from './protocol/admin-api.js';

/** Methods that only read: a browser may send them across sites, and they change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Options of {@link adminRequestRefusal}. */
export interface AdminGuardOptions {
  /**
   * No token guards the port, so a page's request is the operator's: check
   * the `Host` header (a page that rebinds its own name to 127.0.0.1 is then
   * same-origin; IP literals, `localhost` and `allowedHosts` pass), and
   * require a write to carry a header a page cannot send across sites. With
   * a token, a write without `Authorization` is refused by the token check,
   * and a page cannot send `Authorization` across sites either.
   */
  tokenless: boolean;
  /** Host names accepted besides IP literals and `localhost` (the listen host, the operator's names); lower case. */
  allowedHosts: readonly string[];
  /** The setting that adds a host name, for the message (`auth.allowedHosts`). */
  allowedHostsSetting: string;
  /** What else lifts the host check, for the message (`or set an admin token`); empty when nothing does. */
  orElse: string;
}

/** Why a request to an admin port was refused: the Host is not one it answers to, or it looks sent by a web page of another site. */
export interface AdminRefusal {
  kind: 'host' | 'cross-site';
  message: string;
}

const header = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The host name of a `Host` header (`[::1]:15010` → `::1`, `Name.:80` → `name`); undefined when it cannot be parsed. */
export function hostName(host: string): string | undefined {
  try {
    const name = new URL(`http://${host}`).hostname.toLowerCase();
    const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    return bare.endsWith('.') ? bare.slice(0, -1) : bare;
  } catch {
    return undefined;
  }
}

/** Whether `origin` (an `Origin` header) is the origin of the server the request was sent to, as named by its `Host`. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || origin === 'null') return false;
  try {
    const o = new URL(origin);
    // The scheme is left out: behind a proxy that ends TLS the server sees http while the page was https.
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/** The media type of a `content-type` header, lower case, without parameters. */
const mediaType = (v: string | undefined): string => (v ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/**
 * Whether a request to an admin port (the control plane's API, the agent's
 * admin listener) must be refused before any route runs. A browser lets any
 * web page send requests to 127.0.0.1, so:
 *
 * - A write (any method but GET, HEAD, OPTIONS) or a WebSocket upgrade with
 *   an `Origin` other than the server's own (or `Origin: null`, or
 *   `Sec-Fetch-Site: cross-site | same-site`) was sent by another site's page.
 * - With `tokenless`, a write must carry `content-type: application/json`,
 *   the {@link ADMIN_REQUEST_HEADER} header or an `Authorization` header: a
 *   page can send none of them to another origin without a CORS preflight,
 *   which these ports never answer, so a form or a `no-cors` fetch (which
 *   send no `Origin` in some older browsers) is refused too.
 * - With `tokenless`, the `Host` must be an IP literal, `localhost` or an
 *   allowed name: DNS rebinding makes a page's own name point at
 *   127.0.0.1, and then its requests are same-origin but carry its name as
 *   `Host`. An IP literal cannot be rebound. A request without `Host` (not
 *   a browser's) passes.
 */
export function adminRequestRefusal(
  req: { method: string; headers: IncomingHttpHeaders },
  options: AdminGuardOptions,
): AdminRefusal | undefined {
  const h = req.headers;
  const host = header(h, 'host');
  if (options.tokenless && host !== undefined) {
    const name = hostName(host);
    if (name === undefined || (isIP(name) === 0 && name !== 'localhost' && !options.allowedHosts.includes(name))) {
      return {
        kind: 'host',
        message:
          `Host ${JSON.stringify(host)} is not a name this port answers to without a token (a web page can rebind its own name to this address): ` +
          `use 127.0.0.1 or localhost, add the name to ${options.allowedHostsSetting}${options.orElse}`,
      };
    }
  }
  const write = !SAFE_METHODS.has(req.method);
  const upgrade = (header(h, 'upgrade') ?? '').toLowerCase() === 'websocket';
  if (!write && !upgrade) return undefined;
  const origin = header(h, 'origin');
  const site = (header(h, 'sec-fetch-site') ?? '').toLowerCase();
  if ((origin !== undefined && !sameOrigin(origin, host)) || site === 'cross-site' || site === 'same-site') {
    return {
      kind: 'cross-site',
      message:
        `refused a ${req.method} from the web page at ${origin ?? `another site (sec-fetch-site: ${site})`}: ` +
        'a browser sends it for any page the operator opens; use meshctl or curl, which send no Origin, or the dashboard on this origin',
    };
  }
  if (options.tokenless && write && mediaType(header(h, 'content-type')) !== 'application/json') {
    if (header(h, ADMIN_REQUEST_HEADER) === undefined && header(h, 'authorization') === undefined) {
      return {
        kind: 'cross-site',
        message:
          `a ${req.method} must carry "content-type: application/json" or "${ADMIN_REQUEST_HEADER}: 1" ` +
          '(a web page of another site cannot send either; meshctl sends the latter): add one of them',
      };
    }
  }
  return undefined;
}
