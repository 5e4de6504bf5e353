import type { Socket } from 'node:net';
import type { Clock, Logger } from '@meshlet/shared';
import { InboundMtls, type MtlsMode } from '../listener/inbound-mtls.js';
import { MtlsConnector } from '../listener/mtls-connector.js';
import { OriginPools } from '../listener/origin-pools.js';
import { H2Sessions } from '../listener/h2/h2-sessions.js';
import type { AgentMetrics } from '../metrics.js';
import type { WorkloadIdentity } from './workload-identity.js';

/** A first byte and a TLS handshake on the inbound listener must each come within this long. */
export const INBOUND_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What an agent with a workload identity uses in its listeners. */
export interface AgentMtls {
  /** Outbound pools that call mTLS endpoints with the identity. */
  pools: OriginPools;
  /** Outbound HTTP/2 sessions to other agents, made with the identity as the pools' connections are. */
  h2: H2Sessions;
  /** The connector the pools and sessions use: TCP services dial through it too. */
  connector: MtlsConnector;
  /** The inbound listener's TLS side, given the HTTP server's way to take a connection. */
  inbound: (handOff: ConstructorParameters<typeof InboundMtls>[1]) => InboundMtls;
}

/**
 * The mTLS parts of an agent that holds `identity` (every agent does: mTLS
 * between agents is on by default), built once with the agent, so that its
 * pools follow the identity from the start.
 */
export function agentMtls(
  identity: WorkloadIdentity,
  deps: {
    log: Logger;
    clock: Clock;
    metrics: AgentMetrics;
    ownMode: () => MtlsMode;
    /** TCP services' connections (see `InboundMtlsOptions.tcp`). */
    tcp?: (socket: Socket, caller: string | undefined) => void;
  },
): AgentMtls {
  const connector = new MtlsConnector({
    identity,
    log: deps.log.child({ component: 'mtls' }),
    metrics: deps.metrics,
    clock: deps.clock,
  });
  return {
    connector,
    pools: new OriginPools(connector),
    h2: new H2Sessions(deps.log.child({ component: 'h2' }), connector),
    inbound: (handOff) =>
      new InboundMtls(
        {
          identity,
          mode: deps.ownMode,
          log: deps.log.child({ component: 'inbound-mtls' }),
          clock: deps.clock,
          handshakeTimeoutMs: INBOUND_HANDSHAKE_TIMEOUT_MS,
          metrics: deps.metrics,
          tcp: deps.tcp,
        },
        handOff,
      ),
  };
}
