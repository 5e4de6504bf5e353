import type { IncomingMessage } from 'node:http';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import { AgentErrors } from '../errors.js';
import type { Refusal } from '../route/destination.js';
import type { RouteTable } from '../route/route-table.js';
import { routeByRange } from './range-route.js';

/**
 * A range-sharded request's owner, kept current while the request waits
 * (the circuit breaker's queue, an injected delay, its body being read, a
 * retry's backoff): the range routing runs again against the table in force
 * before each attempt whenever a newer table was installed since the
 * request was routed, so that no attempt made after the agent installed
 * (and ACKed) a move goes to the range's former owner.
 */
export class RangeFollow {
  readonly #tables: () => RouteTable | undefined;
  readonly #service: string;
  readonly #req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>;
  readonly #path: string;
  #version: number;
  #lb: EndpointSelection;

  /**
   * @param tables - the table in force now
   * @param service - the range-sharded service the request goes to
   * @param version - the version of the table the request was routed by
   * @param lb - the owner's selection under that table
   */
  constructor(
    tables: () => RouteTable | undefined,
    service: string,
    req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>,
    path: string,
    version: number,
    lb: EndpointSelection,
  ) {
    this.#tables = tables;
    this.#service = service;
    this.#req = req;
    this.#path = path;
    this.#version = version;
    this.#lb = lb;
  }

  /**
   * The selection the next attempt picks from: the same as before while the
   * table is the one the request was routed by; else the owner of the key's
   * range under the table in force, or the refusal a request routed now
   * would get (the key fell in a gap: 404 `MESHLET_SHARD_KEY_UNROUTABLE`;
   * the owner has no endpoint: 503). A service no longer range-sharded
   * keeps the selection it had: any of its endpoints may serve it.
   */
  current(): EndpointSelection | Refusal {
    const table = this.#tables();
    if (table === undefined || table.version === this.#version) return this.#lb;
    this.#version = table.version;
    const svc = table.service(this.#service);
    if (svc === undefined)
      return {
        refusal: AgentErrors.UNKNOWN_SERVICE(
          `service "${this.#service}" left the routing table (version ${table.version}) while the request waited`,
        ),
        extra: { service: this.#service },
      };
    const sharding = svc.policy.sharding;
    if (sharding === undefined) return this.#lb;
    const owned = routeByRange(svc, sharding, this.#req, this.#path, table.version);
    if ('refusal' in owned) return owned;
    if (owned.lb.size === 0)
      return {
        refusal: AgentErrors.NO_HEALTHY_ENDPOINT(
          `service "${svc.name}" ${owned.label} has no endpoint in routing table version ${table.version}`,
        ),
        extra: { service: svc.name },
      };
    this.#lb = owned.lb;
    return owned.lb;
  }
}

/**
 * The selection the next attempt of a request picks from: `current` for a
 * destination that is not range-sharded, else its owner's as of the table in
 * force; `undefined` once `refuse` has answered the refusal (nothing was
 * sent for that attempt).
 */
export function attemptSelection(
  range: RangeFollow | undefined,
  current: EndpointSelection,
  refuse: (r: Refusal) => void,
): EndpointSelection | undefined {
  if (range === undefined) return current;
  const now = range.current();
  if ('refusal' in now) {
    refuse(now);
    return undefined;
  }
  return now;
}
