import type { Observations, Routes } from '@meshlet/shared';
import type { EventLog } from '../events/event-log.js';
import type { FailoverEngine } from '../failover/failover-engine.js';
import type { HealthEngine } from '../health/health-engine.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { Pusher } from '../push/pusher.js';
import type { AgentRecord } from '../registry/agent-record.js';
import type { Registry } from '../registry/registry.js';
import type { RingPublisher } from '../rings/ring-publisher.js';
import type { ServiceStats } from '../stats/service-stats.js';
import type { LeaderInfo } from './replica-link.js';

/** This replica's place in the cluster, for `GET /v1/cluster`. */
export interface ClusterView {
  replicaId: string;
  role: 'leader' | 'follower' | 'standalone';
  leader: LeaderInfo | null;
  /** When this replica took its role. */
  since: number;
  store: 'file' | 'etcd';
}

/** The parts of the control plane that replication feeds and reads. */
export interface ReplicatedParts {
  registry: Registry;
  pusher: Pusher;
  health: HealthEngine;
  failover: FailoverEngine;
  rings: RingPublisher;
  events: EventLog;
  stats: ServiceStats;
  metrics: ControlPlaneMetrics;
  /** Closes the streams of this replica's agents, so that they move to another replica. */
  shedAgents: (reason: string) => void;
  /** Closes this replica's stream of an agent that connected to another replica since (the stream is half-open). */
  closeReplaced: (record: AgentRecord) => void;
}

/**
 * How this control plane stands among others: the one place where a single
 * control plane and a replica of several differ. The control plane tells it
 * what happens locally (agents, observations, tables, decisions) and asks it
 * whether it decides; a standalone control plane always does and tells
 * nobody ({@link StandaloneReplication}), a replica on etcd publishes and
 * follows the elected leader ({@link EtcdReplication}).
 */
export interface Replication {
  /** Whether this control plane decides now (health, failover, tables, webhooks). */
  readonly leading: boolean;
  /** This control plane's place among the replicas. */
  view(): ClusterView;
  /** `undefined` while this control plane decides; else the leader, if one is known. */
  following(): { leader: LeaderInfo | undefined } | undefined;
  /** Why agents are turned away right now, if they are. */
  refusal(): string | undefined;
  /** Takes the parts it feeds, before the control plane listens (a replica follows until elected). */
  attach(parts: ReplicatedParts): void;
  /** Joins the others, once the control plane listens on `port`. */
  start(port: number): Promise<void>;
  /** Called by the sweeper before it looks for silent agents (those of other replicas age only when their replica's word says so). */
  vouch(timeoutMs: number): void;
  /** An agent of this control plane changed (connection, health). */
  changed(record: AgentRecord): void;
  /** The registry forgot an agent. */
  forgotten(record: AgentRecord): void;
  /** An agent of this control plane reported observations; `identity`: what it counts as among callers. */
  observed(agentId: string, report: Observations, identity?: string): void;
  /** This control plane made a table. */
  tableMade(table: Routes): void;
  /** This control plane recorded a decision. */
  decided(): void;
  close(): Promise<void>;
}
