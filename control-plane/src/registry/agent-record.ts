import { compileValidator, type InstanceInfo, type InstanceRole, StoredRegistration } from '@meshlet/shared';

const validRegistration = compileValidator(StoredRegistration);

/** What the control plane knows of the app behind an agent. */
export type AppHealth = 'unknown' | 'healthy' | 'unhealthy';

/** An instance's state as shown to operators. Only `healthy` instances are routed to. */
export type InstanceState = 'healthy' | 'unhealthy' | 'unknown' | 'disconnected';

/** Everything the control plane knows about one agent. */
export interface AgentRecord {
  agentId: string;
  /** Absent for a client-only agent. */
  instance: InstanceInfo | undefined;
  connected: boolean;
  remoteAddress: string;
  connectedAt: number;
  disconnectedAt: number | undefined;
  /** Why the agent is no longer connected. */
  disconnectReason: string | undefined;
  /** The agent closed its stream itself on shutdown (its instance then leaves the table at once). */
  graceful: boolean;
  lastSeenAt: number;
  health: AppHealth;
  healthReason: string | undefined;
  /** Last table sent: version, nonce and when. */
  sent: { version: number; nonce: string; at: number } | undefined;
  acked: { version: number; at: number } | undefined;
  nacked: { version: number; error: string; code: string | undefined; at: number } | undefined;
  /** Services the agent calls (declared in its hello, or subscribed to later), sorted. */
  subscriptions: string[];
  /**
   * The service of the per-service join credential the agent was admitted
   * with: a credential for another service may not take its agent id over.
   * Absent for the shared join token or none (open mode).
   */
  admittedFor?: string;
  /**
   * The control-plane replica the agent is connected to, when it is another
   * one than this (its registration came through etcd); `undefined` for an
   * agent of this replica. `orphaned`: that replica went away and the agent
   * has not reconnected anywhere yet. `silentMs`: how long that replica last
   * said it had not heard from the agent.
   */
  replica?: { id: string; orphaned: boolean; silentMs?: number };
  /**
   * The workload certificate this control plane last issued to the agent
   * (ms since the epoch); absent before the first, and for an agent of
   * another replica.
   */
  certificate?: { spiffeId: string; serialNumber: string; notAfter: number };
  /** The trust bundle generation the agent ACKed in a table (a root rotation waits for it); absent before. */
  trustGeneration?: number;
  /**
   * The fingerprint of the issuer of the certificate the agent presents: from
   * its last ACK, or of the certificate issued to it on this stream, whichever
   * came last (a root rotation waits for the new issuer).
   */
  certificateIssuer?: string;
  /** The role its check last reported (postgres, redis, exec, HTTP role paths); absent: none. */
  role?: InstanceRole | undefined;
  /** The replication offset its check last reported, in bytes; absent: none. */
  replicationOffset?: number | undefined;
  /** Ring checksums from the agent's last ACK, by service; `agrees` is undefined when it reported another ring version than the published one. */
  rings: Record<string, { version: number; checksum: string; agrees: boolean | undefined }>;
}

/** What a replica publishes of one of its agents (under `live/agents/` in etcd), for the other replicas' registries: the agent's own part of its record, and the replica it is connected to. */
export interface Registration extends Pick<
  AgentRecord,
  | 'agentId'
  | 'instance'
  | 'connected'
  | 'remoteAddress'
  | 'connectedAt'
  | 'disconnectedAt'
  | 'disconnectReason'
  | 'graceful'
  | 'health'
  | 'healthReason'
  | 'subscriptions'
  | 'admittedFor'
  | 'trustGeneration'
  | 'certificateIssuer'
  | 'role'
  | 'replicationOffset'
> {
  replica: string;
}

/** The registration of a local agent, as published to the other replicas. */
export function registrationOf(replica: string, r: AgentRecord): Registration {
  return {
    replica,
    agentId: r.agentId,
    instance: r.instance,
    connected: r.connected,
    remoteAddress: r.remoteAddress,
    connectedAt: r.connectedAt,
    disconnectedAt: r.disconnectedAt,
    disconnectReason: r.disconnectReason,
    graceful: r.graceful,
    health: r.health,
    healthReason: r.healthReason,
    subscriptions: r.subscriptions,
    ...(r.admittedFor === undefined ? {} : { admittedFor: r.admittedFor }),
    ...(r.trustGeneration === undefined ? {} : { trustGeneration: r.trustGeneration }),
    ...(r.certificateIssuer === undefined ? {} : { certificateIssuer: r.certificateIssuer }),
    ...(r.role === undefined ? {} : { role: r.role }),
    ...(r.replicationOffset === undefined ? {} : { replicationOffset: r.replicationOffset }),
  };
}

/** A registration read from etcd, checked against the shared schema (another version of meshlet may write other shapes); the agent id is the key's. */
export function parseRegistration(agentId: string, v: unknown): Registration | undefined {
  const checked = validRegistration(v);
  if (!checked.ok) return undefined;
  const r = checked.value;
  return {
    replica: r.replica,
    agentId,
    instance: r.instance ?? undefined,
    connected: r.connected,
    remoteAddress: r.remoteAddress,
    connectedAt: r.connectedAt,
    disconnectedAt: r.disconnectedAt ?? undefined,
    disconnectReason: r.disconnectReason ?? undefined,
    graceful: r.graceful,
    health: r.health,
    healthReason: r.healthReason ?? undefined,
    subscriptions: r.subscriptions,
    ...(typeof r.admittedFor === 'string' ? { admittedFor: r.admittedFor } : {}),
    ...(typeof r.trustGeneration === 'number' ? { trustGeneration: r.trustGeneration } : {}),
    ...(typeof r.certificateIssuer === 'string' ? { certificateIssuer: r.certificateIssuer } : {}),
    ...(typeof r.role === 'string' ? { role: r.role } : {}),
    ...(typeof r.replicationOffset === 'number' ? { replicationOffset: r.replicationOffset } : {}),
  };
}

/** The state and reason of an agent's instance, derived from connection and app health. */
export function instanceState(r: AgentRecord): { state: InstanceState; reason: string } {
  if (!r.connected) return { state: 'disconnected', reason: r.disconnectReason ?? 'agent disconnected' };
  if (r.health === 'healthy') return { state: 'healthy', reason: 'app health check passing' };
  if (r.health === 'unhealthy') {
    return { state: 'unhealthy', reason: `app health check failing${r.healthReason ? `: ${r.healthReason}` : ''}` };
  }
  return { state: 'unknown', reason: 'no health report from the agent yet' };
}
