import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMatch, RandomSource, RouteRule, RouteSplit, Subset } from '@meshlet/shared';

/** The parts of a request that routing looks at. */
export interface RouteRequest {
  readonly method: string;
  /** The request target: origin-form (`/a/b?q`) or absolute-form (`http://orders/a/b?q`). */
  readonly path: string;
  /** Header names in lower case, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
}

/** The rule a request matched and the split drawn for it (`undefined`: the rule has no splits, or all weigh 0). */
export interface RouteMatch {
  readonly rule: RouteRule;
  readonly split: RouteSplit | undefined;
}

interface CompiledHeader {
  readonly name: string;
  readonly exact: string | undefined;
  readonly prefix: string | undefined;
  readonly mustBePresent: boolean;
  readonly mustBeAbsent: boolean;
}

interface CompiledRule {
  readonly rule: RouteRule;
  readonly pathPrefix: string | undefined;
  readonly methods: ReadonlySet<string> | undefined;
  readonly headers: readonly CompiledHeader[];
  /** Running totals of the split weights, for the draw. */
  readonly cumulative: readonly number[];
  readonly totalWeight: number;
  /** The split taking all the weight when only one weighs anything; no draw needed. */
  readonly only: RouteSplit | undefined;
}

/**
 * Picks a service's route for a request. Rules are tried in order and the
 * first whose every condition holds wins:
 *
 * - `pathPrefix`: a plain, case-sensitive string prefix of the path with the
 *   query removed, as Envoy's `prefix` match is, so `/api` matches `/api`,
 *   `/api/x` and `/api?q`, and also `/apix`; write `/api/` to mean the
 *   folder only.
 * - `methods`: the method is one of them.
 * - `headers`: every condition holds. Names are case-insensitive; a header
 *   sent several times (an array in Node) is joined with `,` as Envoy joins
 *   it. `exact` and `prefix` compare the value case-sensitively and need the
 *   header present; `present: false` needs it absent; a condition with none
 *   of the three means present. (The schema allows one of the three; were
 *   several given, all would have to hold.)
 *
 * The split is drawn by weight with the injected `random`; splits of weight
 * 0 are never drawn, and when all weigh 0 the split is `undefined`.
 */
export class RouteMatcher {
  readonly #rules: readonly CompiledRule[];
  readonly #random: RandomSource;

  constructor(rules: readonly RouteRule[], random: RandomSource) {
    this.#rules = rules.map(compile);
    this.#random = random;
  }

  /** The first matching rule (in order) and the chosen split, or `undefined` when no rule matches. */
  match(req: RouteRequest): RouteMatch | undefined {
    const rules = this.#rules;
    if (rules.length === 0) return undefined;
    let path: string | undefined;
    for (const c of rules) {
      if (c.methods !== undefined && !c.methods.has(req.method)) continue;
      if (c.pathPrefix !== undefined) {
        path ??= pathOf(req.path);
        if (!path.startsWith(c.pathPrefix)) continue;
      }
      if (c.headers.length > 0 && !headersMatch(c.headers, req.headers)) continue;
      return { rule: c.rule, split: this.#draw(c) };
    }
    return undefined;
  }

  #draw(c: CompiledRule): RouteSplit | undefined {
    if (c.totalWeight === 0) return undefined;
    if (c.only !== undefined) return c.only;
    const splits = c.rule.splits as readonly RouteSplit[];
    const r = this.#random() * c.totalWeight;
    for (let i = 0; i < splits.length; i++) if (r < c.cumulative[i]!) return splits[i];
    // Only a random source returning 1 or more gets here: give it the last split that weighs anything.
    for (let i = splits.length - 1; ; i--) if (splits[i]!.weight > 0) return splits[i];
  }
}

/**
 * Whether endpoint `labels` satisfy a subset selector: they hold every
 * key of `subset` with the same value. No subset, or an empty one, selects
 * every endpoint.
 */
export function matchesSubset(labels: Readonly<Record<string, string>>, subset: Subset | undefined): boolean {
  if (subset === undefined) return true;
  for (const key in subset) {
    if (!Object.hasOwn(subset, key)) continue;
    if (!Object.hasOwn(labels, key) || labels[key] !== subset[key]) return false;
  }
  return true;
}

function compile(rule: RouteRule): CompiledRule {
  const splits = rule.splits ?? [];
  const cumulative: number[] = [];
  let total = 0;
  let weighted = 0;
  let last: RouteSplit | undefined;
  for (const s of splits) {
    total += s.weight;
    cumulative.push(total);
    if (s.weight > 0) {
      weighted++;
      last = s;
    }
  }
  const { pathPrefix, methods, headers } = rule.match;
  return {
    rule,
    pathPrefix,
    methods: methods === undefined ? undefined : new Set(methods),
    headers: (headers ?? []).map(compileHeader),
    cumulative,
    totalWeight: total,
    only: weighted === 1 ? last : undefined,
  };
}

function compileHeader(h: HeaderMatch): CompiledHeader {
  const needsValue = h.exact !== undefined || h.prefix !== undefined;
  return {
    name: h.name.toLowerCase(),
    exact: h.exact,
    prefix: h.prefix,
    mustBePresent: h.present !== false || needsValue,
    mustBeAbsent: h.present === false,
  };
}

function headersMatch(conditions: readonly CompiledHeader[], headers: IncomingHttpHeaders): boolean {
  for (const h of conditions) {
    const raw = headers[h.name];
    if (raw === undefined) {
      if (h.mustBePresent) return false;
      continue;
    }
    if (h.mustBeAbsent) return false;
    if (h.exact === undefined && h.prefix === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (h.exact !== undefined && value !== h.exact) return false;
    if (h.prefix !== undefined && !value.startsWith(h.prefix)) return false;
  }
  return true;
}

/** The path of a request target, without query or fragment; absolute-form loses its scheme and authority. */
function pathOf(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    const scheme = target.indexOf('://');
    if (scheme !== -1) {
      const slash = target.indexOf('/', scheme + 3);
      if (slash === -1) return '/';
      start = slash;
    }
  }
  let end = target.length;
  const q = target.indexOf('?', start);
  if (q !== -1) end = q;
  const f = target.indexOf('#', start);
  if (f !== -1 && f < end) end = f;
  return start === 0 && end === target.length ? target : target.slice(start, end);
}
