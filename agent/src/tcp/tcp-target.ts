import { hashString, type InstanceRole } from '@meshlet/shared';
import type { EndpointSelection } from '../balancer/endpoint-selection.js';
import { AgentErrorCodes } from '../errors.js';
import type { RouteTable } from '../route/route-table.js';
import type { ServiceRuntime } from '../route/service-runtime.js';

/** Where a new TCP connection may go under a table, or why nowhere. */
export type TcpTarget =
  | {
      ok: true;
      svc: ServiceRuntime;
      lb: EndpointSelection;
      /** The failover term it is opened under (a managed service's `role: primary` connection); fenced when it changes. */
      term: number | undefined;
      /**
       * The term a connection to `endpoint` is fenced by: {@link term} for
       * `role: primary`; for a managed service's connection with no role, the
       * table's term when `endpoint` is its primary (a writer may be behind
       * it), else undefined (never fenced).
       */
      termOf(endpoint: string): number | undefined;
      /** Endpoints no new connection may go to: with no role, those reporting primary that are not the managed service's primary. */
      exclude: ReadonlySet<string>;
      /** The source address's hash, for ring_hash and maglev. */
      hash: number | undefined;
    }
  | { ok: false; result: string; code: string; message: string };

/**
 * The endpoints a new connection to `service` may use: all of them, or for
 * an upstream with a `role` those of that role; for a managed service's
 * `role: primary`, only the current term's primary (none: refused with
 * `MESHLET_NO_PRIMARY`, never a guess). The hash balancers are keyed on the
 * client's address, the only key a TCP connection has. A managed
 * service's connection with no role goes to any endpoint but one that
 * reports primary without being the table's primary, and one opened to the
 * primary is fenced as a `role: primary` one is (see `termOf`).
 */
export function tcpTarget(
  table: RouteTable,
  service: string,
  role: InstanceRole | undefined,
  clientAddress: string | undefined,
): TcpTarget {
  const svc = table.service(service);
  if (svc === undefined)
    return {
      ok: false,
      result: 'unknown_service',
      code: AgentErrorCodes.UNKNOWN_SERVICE,
      message: `service "${service}" is not in the routing table (version ${table.version})`,
    };
  const failover = table.routes.services[service]?.failover;
  const managed = svc.policy.failover?.mode === 'managed';
  let lb: EndpointSelection = svc.lb;
  let term: number | undefined;
  if (role === 'primary' && managed) {
    if (failover?.primary === undefined)
      return {
        ok: false,
        result: 'no_primary',
        code: AgentErrorCodes.NO_PRIMARY,
        message: `managed service "${service}" has no primary in routing table version ${table.version} (term ${failover?.term ?? 0}): a failover is in progress`,
      };
    lb = svc.instanceLb(failover.primary);
    term = failover.term;
  } else if (role !== undefined) lb = svc.roleLb(role);
  if (lb.size === 0)
    return {
      ok: false,
      result: 'no_endpoint',
      code: AgentErrorCodes.NO_HEALTHY_ENDPOINT,
      message: `service "${service}"${role ? ` role ${role}` : ''} has no endpoint in routing table version ${table.version}`,
    };
  const kind = svc.policy.balancer.kind;
  const hash =
    (kind === 'ring_hash' || kind === 'maglev') && clientAddress !== undefined ? hashString(clientAddress) : undefined;
  let termOf = (_endpoint: string): number | undefined => term;
  const exclude = new Set<string>();
  if (role === undefined && managed) {
    termOf = (endpoint: string) => (failover?.primary === endpoint ? failover.term : undefined);
    // An instance that says primary but is not the table's primary (a deposed one that came back as primary, or one
    // whose term ended) may take writes that the new primary never sees: no new connection goes there.
    for (const e of svc.endpoints) if (e.role === 'primary' && e.id !== failover?.primary) exclude.add(e.id);
  }
  return { ok: true, svc, lb, term, termOf, exclude, hash };
}
