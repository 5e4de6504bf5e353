import type { IncomingMessage } from 'node:http';
import type { HttpErrorDefinition, MeshletHttpError, RetryPolicy, RouteRule, TimeoutPolicy } from '@meshlet/shared';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import { type AgentErrorCode, AgentErrors } from '../errors.js';
import type { RequestTarget } from '../listener/request-target.js';
import { RangeFollow } from '../sharding/range-follow.js';
import { routeByRange } from '../sharding/range-route.js';
import type { RouteTable } from './route-table.js';
import type { ServiceRuntime } from './service-runtime.js';

/** Where a request goes, once routed. */
export interface Destination {
  /** The service the request named (its policy's rate limit, faults, budget apply). */
  svc: ServiceRuntime;
  /** The service that serves it (another one when a split says so). */
  dest: ServiceRuntime;
  lb: EndpointSelection;
  retries: RetryPolicy;
  timeouts: TimeoutPolicy;
  /** The routing table's version, for messages. */
  version: number;
  /**
   * A range-sharded destination: the owner's selection as of the table in
   * force at each attempt (see {@link RangeFollow}); absent otherwise, and
   * when the caller gave no way to read the table in force.
   */
  range?: RangeFollow;
}

/** Why a request cannot be routed: the answer to give, with its `MESHLET_*` code and the status bound to it. */
export interface Refusal {
  /** The answer: its code bound to its status. */
  refusal: MeshletHttpError;
  /** Fields added to the answer's body (the service named). */
  extra: Record<string, unknown>;
}

const refuse = (
  error: HttpErrorDefinition<AgentErrorCode>,
  message: string,
  extra: Record<string, unknown>,
): Refusal => ({ refusal: error(message), extra });

/**
 * Where a request for `target` goes under `table`: the service it names,
 * its first matching route, the split that route chose (a subset, or
 * another service), and the retry and timeout settings that apply. Shared
 * by plain requests and upgrades. `tables` (the table in force, read
 * again later): a range-sharded request's owner is looked up again before
 * each attempt when a newer table came meanwhile (`Destination.range`).
 */
export function resolveDestination(
  table: RouteTable | undefined,
  req: IncomingMessage,
  target: RequestTarget,
  tables?: () => RouteTable | undefined,
): Destination | Refusal {
  if (!table) {
    return refuse(
      AgentErrors.NO_ROUTING_TABLE,
      'the agent has no routing table yet: it has not reached the control plane and none is persisted in its dataDir',
      { service: target.service },
    );
  }
  const svc = table.service(target.service);
  if (!svc) {
    return refuse(
      AgentErrors.UNKNOWN_SERVICE,
      `service "${target.service}" is not in the routing table (version ${table.version}); known services: ${table.serviceNames().join(', ') || 'none'}`,
      { service: target.service },
    );
  }
  let dest = svc;
  let lb: EndpointSelection = svc.lb;
  let rule: RouteRule | undefined;
  let subset = '';
  const matcher = svc.matcher;
  if (matcher) {
    const m = matcher.match({ method: req.method ?? 'GET', path: target.path, headers: req.headers });
    if (m) {
      rule = m.rule;
      const split = m.split;
      if (split) {
        if (split.service !== undefined && split.service !== svc.name) {
          const other = table.service(split.service);
          if (!other) {
            return refuse(
              AgentErrors.UNKNOWN_SERVICE,
              `a route${rule.name ? ` "${rule.name}"` : ''} of "${svc.name}" sends to service "${split.service}", which is not in the routing table (version ${table.version})`,
              { service: split.service },
            );
          }
          dest = other;
        }
        lb = dest.subsetLb(split.subset);
        if (split.subset) subset = ` subset ${JSON.stringify(split.subset)}`;
      }
    }
  }
  // A range-sharded service: only the owner of the key's range may serve it (a split's subset gives way to it).
  const sharding = dest.policy.sharding;
  let range: RangeFollow | undefined;
  if (sharding) {
    const owned = routeByRange(dest, sharding, req, target.path, table.version);
    if ('refusal' in owned) return owned;
    lb = owned.lb;
    subset = ` ${owned.label}`;
    if (tables) range = new RangeFollow(tables, dest.name, req, target.path, table.version, lb);
  }
  if (lb.size === 0) {
    return refuse(
      AgentErrors.NO_HEALTHY_ENDPOINT,
      `service "${dest.name}"${subset} has no endpoint in routing table version ${table.version}`,
      { service: dest.name },
    );
  }
  const { retries, timeouts } = svc.settingsFor(rule);
  // One shape for every destination (range undefined when not sharded): a conditional spread built a new one each time.
  return { svc, dest, lb, retries, timeouts, version: table.version, range };
}
