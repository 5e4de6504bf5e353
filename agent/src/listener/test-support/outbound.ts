// The shared fixture of the outbound listener's unit tests: upstreams on
// loopback, a listener in front of them whose routing table a test installs,
// started before the tests of a `describe` and closed after them. Test code
// only: the agent's build excludes `test-support` folders (agent/tsconfig.json).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Endpoint, type Routes } from '@meshlet/shared';
import { afterAll, beforeAll } from 'vitest';
import { EndpointStatsMap } from '../../balancer/endpoint-stats.js';
import type { RouteTable } from '../../route/route-table.js';
import { OriginPools } from '../origin-pools.js';
import { OutboundListener, type OutboundOptions } from '../outbound-listener.js';
import { closeServer, type Upstream, upstream } from './loopback.js';

/**
 * Starts `server` on an ephemeral port of 127.0.0.1.
 *
 * @param server - the server to start
 * @returns the port it listens on
 */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/**
 * A routing table message with one service and no more: what the control
 * plane would push, with the policy's fields as loose as a test writes them.
 *
 * @param endpoints - the service's endpoints
 * @param policy - its policy, any fields left out taking the schema's defaults
 * @param version - the table's version
 * @param service - the service's name
 */
export function routesOf(
  endpoints: Endpoint[],
  policy: Record<string, unknown> = {},
  version = 1,
  service = 'svc',
): Routes {
  return { type: 'routes', version, nonce: 'n', services: { [service]: { endpoints, policy } } } as unknown as Routes;
}

/** What a test file's outbound listener is built from. */
export interface OutboundSetup {
  /** The upstreams to start, by id, each with the status it answers until told otherwise. */
  upstreams: Record<string, number>;
  /** The listener's options other than its table, pools and stats; the log is silent unless given. */
  options: Omit<OutboundOptions, 'table' | 'pools' | 'stats' | 'log'> & Partial<Pick<OutboundOptions, 'log'>>;
}

/** The running fixture; its fields are set once the `describe`'s `beforeAll` has run. */
export interface Outbound {
  listener: OutboundListener;
  port: number;
  /** The listener's routing table: a test installs one by setting it. */
  table: RouteTable | undefined;
  readonly pools: OriginPools;
  readonly stats: EndpointStatsMap;
  /** The upstream of this id. */
  up(id: string): Upstream;
  /** Puts every upstream back as it started: its first status, no delay, extra headers, early hints or large body, no hits. */
  resetUpstreams(): void;
}

/**
 * Registers, in the calling `describe`, the start of the upstreams and of
 * an outbound listener over them (`beforeAll`), and their close, with the
 * last table and the pools (`afterAll`).
 *
 * @param setup - called in `beforeAll`, so it may read what the file sets up before
 * @param pools - the listener's pools (with an mTLS connector, say)
 */
export function useOutbound(setup: () => OutboundSetup, pools: OriginPools = new OriginPools()): Outbound {
  const ups = new Map<string, { u: Upstream; status: number }>();
  const f: Outbound = {
    listener: undefined as unknown as OutboundListener,
    port: 0,
    table: undefined,
    pools,
    stats: new EndpointStatsMap(),
    up(id) {
      const got = ups.get(id);
      if (!got) throw new Error(`no upstream ${id} in this fixture`);
      return got.u;
    },
    resetUpstreams() {
      for (const { u, status } of ups.values())
        Object.assign(u, { hits: 0, headers: {}, delayMs: 0, earlyHints: false, bodyBytes: 0, status });
    },
  };
  beforeAll(async () => {
    const s = setup();
    for (const [id, status] of Object.entries(s.upstreams)) ups.set(id, { u: await upstream(id, status), status });
    f.listener = new OutboundListener({
      log: createLogger('test', 'silent'),
      ...s.options,
      table: () => f.table,
      pools: f.pools,
      stats: f.stats,
    });
    f.port = await listen(f.listener.server);
  });
  afterAll(async () => {
    f.table?.close();
    await f.pools.close();
    await closeServer(f.listener.server);
    for (const { u } of ups.values()) await closeServer(u.server);
  });
  return f;
}
