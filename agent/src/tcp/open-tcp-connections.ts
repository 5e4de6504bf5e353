import type { FailoverState } from '@meshlet/shared';
import type { RouteTable } from '../route/route-table.js';
import type { TcpCloseReason } from './tcp-relay.js';

/** A relayed outbound connection as fencing sees it: where it went, under which term. */
export interface OpenTcpConnection {
  service: string;
  endpoint: string;
  /** The failover term it was opened under: a managed service's `role: primary` connection, or one with no role opened to the primary; undefined otherwise. */
  term: number | undefined;
  close(reason: TcpCloseReason): void;
}

/**
 * Whether a connection opened under `term` to `endpoint` must close under
 * a table whose failover state is `failover`: the term changed, the
 * endpoint is no longer the primary, or the table names none. Connections
 * opened without a term (`role: replica`, no role to an endpoint that was
 * not the primary, or an unmanaged service) are never fenced.
 */
export function isFenced(
  c: Pick<OpenTcpConnection, 'endpoint' | 'term'>,
  failover: FailoverState | undefined,
  managed: boolean,
): boolean {
  if (c.term === undefined) return false;
  return !managed || failover === undefined || failover.term !== c.term || failover.primary !== c.endpoint;
}

/**
 * The agent's outbound TCP connections in flight, by service: the caller
 * side of fencing. On every table install, each connection a managed
 * service's new failover state fences (see {@link isFenced}) is closed at
 * once, so that no client keeps writing to a deposed primary through a
 * connection opened before the term changed.
 */
export class OpenTcpConnections {
  readonly #byService = new Map<string, Set<OpenTcpConnection>>();

  /** Records `c` until the returned function is called (when it closes). */
  add(c: OpenTcpConnection): () => void {
    let set = this.#byService.get(c.service);
    if (set === undefined) this.#byService.set(c.service, (set = new Set()));
    set.add(c);
    return () => {
      set.delete(c);
      if (set.size === 0 && this.#byService.get(c.service) === set) this.#byService.delete(c.service);
    };
  }

  /** Closes the connections `table` fences; returns them, for the log. */
  fence(table: RouteTable): OpenTcpConnection[] {
    const fenced: OpenTcpConnection[] = [];
    for (const [service, set] of this.#byService) {
      const routes = table.routes.services[service];
      const managed = table.service(service)?.policy.failover?.mode === 'managed';
      for (const c of set) if (isFenced(c, routes?.failover, managed)) fenced.push(c);
    }
    for (const c of fenced) c.close('fenced');
    return fenced;
  }

  /** Closes every connection (the agent stops). */
  closeAll(reason: TcpCloseReason): void {
    for (const set of [...this.#byService.values()]) for (const c of [...set]) c.close(reason);
  }

  /** Connections open now. */
  get size(): number {
    let n = 0;
    for (const set of this.#byService.values()) n += set.size;
    return n;
  }
}
