import type { Endpoint } from '@meshlet/shared';
import type { PickContext } from './balancer.js';

/**
 * What a request path asks of a service's (or a subset's) endpoint
 * selection: how many endpoints it has, and a pick. A
 * `ServiceLoadBalancer` is one; so is the bounded stand-in a subset uses
 * while its own hash tables are built ({@link ExcludingSelection}).
 */
export interface EndpointSelection {
  /** Number of endpoints, healthy or not. */
  readonly size: number;
  /** Chooses an endpoint for one attempt, or `undefined` when none is left (see `Balancer.pick`). */
  pick(ctx?: PickContext): Endpoint | undefined;
}

/**
 * `ctx` with `more` added to its exclusions. Allocates (an object, and a set
 * when `ctx` already excludes some): only for the short while a selection
 * stands in for one still being built.
 */
export function withExclusions(ctx: PickContext | undefined, more: ReadonlySet<string>): PickContext {
  const exclude = ctx?.exclude;
  const merged = exclude === undefined || exclude.size === 0 ? more : new Set([...exclude, ...more]);
  return ctx?.hash === undefined ? { exclude: merged } : { hash: ctx.hash, exclude: merged };
}

/**
 * A subset's stand-in while the subset's own hash tables are built in
 * slices: the whole service's selection with every endpoint outside the
 * subset excluded. A hash balancer then walks from the key's slot of the
 * service's table on to the next member of the subset, the same walk on
 * every agent, so a key keeps one endpoint meanwhile (it may move once,
 * when the subset's table is in). Bounded: the walk is at most one turn of
 * a table already built.
 */
export class ExcludingSelection implements EndpointSelection {
  readonly size: number;
  readonly #inner: EndpointSelection;
  readonly #outside: ReadonlySet<string>;

  /**
   * @param inner - the whole service's selection
   * @param members - the subset's endpoints
   * @param all - the service's endpoints
   */
  constructor(inner: EndpointSelection, members: readonly Endpoint[], all: readonly Endpoint[]) {
    this.#inner = inner;
    this.size = members.length;
    const inside = new Set(members.map((e) => e.id));
    this.#outside = new Set(all.filter((e) => !inside.has(e.id)).map((e) => e.id));
  }

  pick(ctx?: PickContext): Endpoint | undefined {
    return this.#inner.pick(this.#outside.size === 0 ? ctx : withExclusions(ctx, this.#outside));
  }
}
