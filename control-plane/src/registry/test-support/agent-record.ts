import type { Hello, InstanceInfo } from '@meshlet/shared';
import type { AgentRecord } from '../agent-record.js';

/** A connected agent record for tests, fronting instance `id` of `orders` unless `over` says otherwise. */
export function agentRecord(id: string, over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    agentId: id,
    instance: { service: 'orders', id, host: '127.0.0.1', port: 1, tier: 0, weight: 1, labels: {} },
    connected: true,
    remoteAddress: '127.0.0.1',
    connectedAt: 0,
    disconnectedAt: undefined,
    disconnectReason: undefined,
    graceful: false,
    lastSeenAt: 0,
    health: 'unknown',
    healthReason: undefined,
    sent: undefined,
    acked: undefined,
    nacked: undefined,
    subscriptions: [],
    rings: {},
    ...over,
  };
}

/** Instance `id` of `service` (`orders` unless said), at `<id>.local:15006`. */
export const instance = (id: string, service = 'orders', over: Partial<InstanceInfo> = {}): InstanceInfo => ({
  service,
  id,
  host: `${id}.local`,
  port: 15006,
  tier: 0,
  weight: 1,
  labels: {},
  ...over,
});

/** The hello of agent `agentId`, fronting `inst` if given. */
export const hello = (agentId: string, inst?: InstanceInfo): Hello => ({
  type: 'hello',
  protocolVersion: 1,
  agentId,
  tableVersion: 0,
  ...(inst ? { instance: inst } : {}),
});
