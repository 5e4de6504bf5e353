import type { AgentConfig, InstanceInfo } from '@meshlet/shared';
import { advertiseHost } from '../listener/advertise-host.js';

/**
 * The instance an agent registers in its hello, at each (re)connect: its
 * service and id, the address callers reach its inbound listener at (the
 * advertised host, else the stream's local address: what the control plane
 * sees it connect from), tier, weight, labels and zone. Undefined for a
 * client-only agent, and until the inbound listener has its port.
 */
export function instanceInfo(
  config: Pick<AgentConfig, 'instance' | 'agentId' | 'listeners'>,
  inboundPort: number | undefined,
  streamLocal: string | undefined,
): InstanceInfo | undefined {
  const i = config.instance;
  if (!i || inboundPort === undefined) return undefined;
  const inbound = config.listeners.inbound;
  const info: InstanceInfo = {
    service: i.service,
    id: i.id ?? config.agentId,
    host: advertiseHost(inbound.host, inbound.advertiseHost, streamLocal),
    port: inboundPort,
    tier: i.tier,
    weight: i.weight,
    labels: i.labels,
  };
  if (i.zone !== undefined) info.zone = i.zone;
  if (i.failover !== undefined) info.failoverPriority = i.failover.priority;
  // Said from the start: the listener serves mTLS from its first certificate on.
  info.mtls = true;
  return info;
}
