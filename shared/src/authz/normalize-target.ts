/** A request target reduced to what an authorization policy matches. */
export interface NormalizedTarget {
  ok: true;
  /** The normalized path, as policies match it (see {@link normalizeTarget}). */
  path: string;
  /** That path with the original query: what the app is sent, so it serves what was authorized. */
  url: string;
  /** The path holds an encoded slash or backslash (`%2F`, `%5C`), which some apps decode into a separator. */
  escapedSlash: boolean;
}

/** A request target that cannot be normalized: answered 400 while a policy is in force. */
export interface UnparsableTarget {
  ok: false;
  /** What is wrong with it, for the error message. */
  problem: string;
}

const BASE = 'http://meshlet.invalid';
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\\]*/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Decodes `%XX` of unreserved characters and upper-cases the other escapes (RFC 3986 section 6.2.2). */
function normalizeEscapes(path: string): { path: string; escapedSlash: boolean } {
  let escapedSlash = false;
  const out = path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    if (UNRESERVED.test(char)) return char;
    const upper = hex.toUpperCase();
    if (upper === '2F' || upper === '5C') escapedSlash = true;
    return `%${upper}`;
  });
  return { path: out, escapedSlash };
}

/**
 * Normalizes a path (no query) as {@link normalizeTarget} does; a policy's
 * path prefixes must already be in this form. Idempotent.
 */
export function normalizePath(rawPath: string): { path: string; escapedSlash: boolean } {
  const { path, escapedSlash } = normalizeEscapes(rawPath.replace(/\\/g, '/'));
  // Only the path goes to the URL parser, behind a fixed origin: `//admin` stays a path.
  const resolved = new URL(BASE + (path.startsWith('/') ? path : `/${path}`)).pathname;
  return { path: resolved.replace(/\/{2,}/g, '/'), escapedSlash };
}

/**
 * Normalizes a request target before path rules see it, as Envoy's
 * `normalize_path` plus `merge_slashes` do (Istio's `MERGE_SLASHES`):
 * `%XX` of unreserved characters (letters, digits, `-._~`) is decoded
 * (`/%61dmin` is `/admin`) and other escapes upper-cased; `\` reads as `/`;
 * dot segments are resolved (`/public/../admin`, `/public/%2e%2e/admin`);
 * repeated slashes are merged (`//admin`). Otherwise such a target would
 * pass a rule written for `/admin` and reach an app that resolves it. An
 * absolute-form target (`http://host:port/admin`) keeps only its path and
 * query, whatever its authority, so a host the URL parser refuses cannot
 * carry a raw path past the rules. A fragment is dropped. Anything else
 * (`admin`, `http:/admin`) cannot be normalized: `ok: false`. `%2F` and
 * `%5C` stay encoded and are reported in `escapedSlash` (the caller refuses
 * them when path rules apply).
 */
export function normalizeTarget(target: string): NormalizedTarget | UnparsableTarget {
  if (target === '*') return { ok: true, path: '*', url: '*', escapedSlash: false };
  let rest: string;
  if (target.startsWith('/') || target.startsWith('\\')) rest = target;
  else {
    const authority = ABSOLUTE_FORM.exec(target);
    if (authority === null)
      return { ok: false, problem: 'it is neither origin-form ("/path") nor absolute-form ("http://host/path")' };
    rest = target.slice(authority[0].length) || '/';
    if (!rest.startsWith('/') && !rest.startsWith('\\')) rest = `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const rawPath = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? '' : rest.slice(q);
  let normalized: { path: string; escapedSlash: boolean };
  try {
    normalized = normalizePath(rawPath);
  } catch {
    return { ok: false, problem: 'its path cannot be parsed' };
  }
  return { ok: true, path: normalized.path, url: normalized.path + query, escapedSlash: normalized.escapedSlash };
}
