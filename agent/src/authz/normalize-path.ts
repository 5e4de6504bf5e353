/** The parts of a request target an authorization policy looks at. */
export interface NormalizedTarget {
  /** The path with dot segments (`.`, `..`, `%2e`) resolved and repeated slashes merged, as policies match it. */
  path: string;
  /** That path with the original query: what the app is sent, so it serves what was authorized. */
  url: string;
}

const BASE = 'http://meshlet.invalid';

/**
 * Normalizes a request target before path rules see it, as Istio does
 * (its `BASE` normalization plus `MERGE_SLASHES`): otherwise
 * `/public/../admin` or `//admin` would pass a rule written for `/admin`
 * and reach an app that resolves them. WHATWG URL parsing resolves dot
 * segments, percent-encoded ones included, and reads `\` as `/`; a target
 * that starts with `//` is kept a path (not a host). Absolute-form targets
 * keep only their path and query. `%2F` stays encoded, as Istio keeps it.
 */
export function normalizeTarget(target: string): NormalizedTarget {
  if (target === '*') return { path: '*', url: '*' };
  let parsed: URL;
  try {
    parsed = target.startsWith('/') || target.startsWith('\\') ? new URL(BASE + target) : new URL(target, BASE);
  } catch {
    return { path: target, url: target };
  }
  const path = parsed.pathname.replace(/\/{2,}/g, '/');
  return { path, url: path + parsed.search };
}
