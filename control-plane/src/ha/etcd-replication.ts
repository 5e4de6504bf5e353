import { hostname } from 'node:os';
import type { Clock, ControlPlaneConfig, Logger, Observations, Routes } from '@meshlet/shared';
import type { MeshEvent } from '../events/event-log.js';
import { tierCounts } from '../failover/tier-counts.js';
import { type AgentRecord, registrationOf } from '../registry/agent-record.js';
import { RemoteAgents } from '../registry/remote-agents.js';
import type { EtcdStore } from '../store/etcd-store.js';
import { type LeaderInfo, type PublishedTable, ReplicaLink, type SignalBatch } from './replica-link.js';
import type { ClusterView, ReplicatedParts, Replication } from './replication.js';

/** How many of the leader's latest decisions it publishes for the followers' `/v1/events`. */
const PUBLISHED_EVENTS = 100;
/** Decisions made in a burst are published once. */
const EVENTS_DEBOUNCE_MS = 100;

/** What an etcd replica needs besides the parts it feeds. */
export interface EtcdReplicationOptions {
  store: EtcdStore;
  config: ControlPlaneConfig;
  log: Logger;
  clock: Clock;
}

/** The replica id the config gives, or `<hostname>:<port>`. */
function replicaIdOf(config: ControlPlaneConfig, port: number): string {
  return config.store.etcd.replicaId || `${hostname()}:${port}`;
}

/** The URL operators reach this replica at: the configured one, or one made from the listen address. */
function advertiseUrlOf(config: ControlPlaneConfig, port: number): string {
  if (config.store.etcd.advertiseUrl) return config.store.etcd.advertiseUrl;
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return `${config.tls.certFile ? 'https' : 'http'}://${host}:${port}`;
}

/**
 * Joins this control plane to the other replicas on the same etcd: it
 * publishes its agents and their signals, takes in theirs, and follows or
 * leads. The leader decides (health, failover, tables, webhooks) and
 * publishes its tables and decisions; a follower runs the same health
 * engine on the same signals as a hot standby, but adopts the leader's
 * tables and decisions instead of its own, so every agent receives the same
 * table version whichever replica it is connected to.
 */
export class EtcdReplication implements Replication {
  readonly #o: EtcdReplicationOptions;
  #parts: ReplicatedParts | undefined;
  #remote: RemoteAgents | undefined;
  /** Made by {@link start}, once the port (part of the replica id) is known. */
  #link: ReplicaLink | undefined;
  #replicaId = '';
  #url = '';
  #leader: LeaderInfo | undefined;
  #since: number;
  #eventsTimer: NodeJS.Timeout | undefined;
  #cutOff = false;

  constructor(options: EtcdReplicationOptions) {
    this.#o = options;
    this.#since = options.clock();
  }

  get #d(): ReplicatedParts {
    if (!this.#parts) throw new Error('replication used before attach()');
    return this.#parts;
  }

  /** A replica follows until elected: it must not make versions of its own, even before it has joined the others. */
  attach(parts: ReplicatedParts): void {
    this.#parts = parts;
    this.#remote = new RemoteAgents(parts.registry, { clock: this.#o.clock, onReplacedLocal: parts.closeReplaced });
    parts.pusher.setBuilding(false);
  }

  #connect(port: number): ReplicaLink {
    const { store, config, log } = this.#o;
    const d = this.#d;
    const remote = this.#remote as RemoteAgents;
    this.#replicaId = replicaIdOf(config, port);
    this.#url = advertiseUrlOf(config, port);
    return new ReplicaLink({
      client: store.client,
      endpoints: config.store.etcd.endpoints,
      prefix: store.prefix,
      replicaId: this.#replicaId,
      advertiseUrl: this.#url,
      leaseTtlSeconds: config.store.etcd.leaseTtlSeconds,
      requestTimeoutMs: store.requestTimeoutMs,
      log: log.child({ component: 'replicas' }),
      clock: this.#o.clock,
      handlers: {
        onRole: (leader) => this.#onRole(leader),
        onLeader: (info) => {
          this.#leader = info;
          log.info(
            { leader: info?.replicaId ?? null, url: info?.url ?? null },
            info ? 'leader is known' : 'no leader right now',
          );
        },
        onRegistration: (reg) => remote.apply(reg),
        onRegistrationGone: (agentId, replica) => remote.remove(agentId, replica),
        onSignals: (batch) => this.#onSignals(batch),
        onTable: (table, replace) => this.#onTable(table, replace),
        onEvents: (events) => this.#onEvents(events),
        onCutOff: (cutOff) => {
          this.#cutOff = cutOff;
          if (cutOff) d.shedAgents('this control-plane replica cannot reach etcd; use another replica');
        },
      },
    });
  }

  /** Why this replica turns agents away right now (it can reach no etcd member), if it does. */
  refusal(): string | undefined {
    return this.#cutOff ? 'this control-plane replica cannot reach etcd; connect to another replica' : undefined;
  }

  /** Whether this replica decides now. */
  get leading(): boolean {
    return this.#link?.leader ?? false;
  }

  /**
   * Keeps the agents of other replicas from looking silent when it is their
   * replica's word that is missing, not theirs (see
   * {@link RemoteAgents.refresh}): a replica's batches can pause while its
   * lease, and so its registrations, live on, as while it gets a new lease
   * after etcd lost its quorum. When a replica dies its registrations go with
   * its lease, its agents are orphaned, and their silence counts again.
   * Until this replica has been in touch with etcd for `ms`, nobody's
   * silence counts.
   */
  vouch(ms: number): void {
    if (this.#link) this.#remote?.refresh(!this.#link.inTouch(ms));
  }

  /** `undefined` while this replica leads; else the leader, if one is known. */
  following(): { leader: LeaderInfo | undefined } | undefined {
    return this.leading ? undefined : { leader: this.#leader };
  }

  view(): ClusterView {
    return {
      replicaId: this.#replicaId,
      role: this.leading ? 'leader' : 'follower',
      leader: this.leading ? { replicaId: this.#replicaId, url: this.#url } : (this.#leader ?? null),
      since: this.#since,
      store: 'etcd',
    };
  }

  /** Lists what the other replicas published, publishes this replica's agents, and starts campaigning. */
  async start(port: number): Promise<void> {
    // The pusher follows since attach(); it leads once elected (#onRole).
    const { registry } = this.#d;
    const { clock } = this.#o;
    const link = this.#connect(port);
    this.#link = link;
    this.#since = clock();
    await link.start(() => {
      const now = clock();
      const seen: Record<string, number> = {};
      for (const r of registry.agents())
        if (r.replica === undefined && r.connected) seen[r.agentId] = Math.max(0, now - r.lastSeenAt);
      return seen;
    });
    // Agents that connected before the link was up.
    for (const r of registry.agents()) if (r.replica === undefined) link.register(registrationOf(this.#replicaId, r));
  }

  /** Publishes a change of an agent of this replica (connection, health). */
  changed(record: AgentRecord): void {
    if (record.replica === undefined) this.#link?.register(registrationOf(this.#replicaId, record));
  }

  /** Withdraws an agent of this replica that the registry forgot. */
  forgotten(record: AgentRecord): void {
    if (record.replica === undefined) this.#link?.unregister(record.agentId);
  }

  /** Relays an observation report of an agent of this replica to the others. */
  observed(agentId: string, report: Observations, identity?: string): void {
    this.#link?.observed(agentId, report, identity);
  }

  /** Publishes a table this replica made (as leader). */
  tableMade(table: Routes): void {
    this.#link?.publishTable(table);
  }

  /** Publishes the latest decisions soon (as leader). */
  decided(): void {
    if (!this.leading || this.#eventsTimer) return;
    this.#eventsTimer = setTimeout(() => {
      this.#eventsTimer = undefined;
      this.#link?.publishEvents(this.#d.events.list({ limit: PUBLISHED_EVENTS }));
    }, EVENTS_DEBOUNCE_MS);
  }

  async close(): Promise<void> {
    if (this.#eventsTimer) clearTimeout(this.#eventsTimer);
    await this.#link?.close();
  }

  #onRole(leader: boolean): void {
    this.#since = this.#o.clock();
    this.#d.metrics.leader.set(leader ? 1 : 0);
    this.#o.log.info(
      { replicaId: this.#replicaId, role: leader ? 'leader' : 'follower' },
      leader ? 'this replica leads: it decides and publishes tables' : 'this replica follows the leader',
    );
    this.#d.pusher.setBuilding(leader);
  }

  #onSignals(batch: SignalBatch): void {
    const { health, stats } = this.#d;
    // The link checked the batch (ages, each report against the protocol's schema).
    for (const [agentId, age] of Object.entries(batch.seen)) this.#remote?.seen(agentId, batch.replica, age);
    for (const o of batch.observations) {
      health.observe(o.agentId, o.report, o.identity);
      stats.record(o.report, (service, id) => health.knows(service, id), o.agentId);
    }
  }

  #onTable(table: PublishedTable, replace: boolean): void {
    const { pusher, rings, failover } = this.#d;
    if (this.leading && table.version <= pusher.version) return;
    // What the pusher would ignore must not reach the rings and tiers either.
    if (
      !replace &&
      (table.version < pusher.version || (table.version === pusher.version && table.nonce === pusher.nonce))
    )
      return;
    for (const [name, routes] of Object.entries(table.services)) {
      rings.setRing(name, routes);
      if (routes.activeTier !== undefined) failover.setActive(name, tierCounts(routes), routes.activeTier);
    }
    pusher.takeTable(table, replace);
  }

  #onEvents(events: MeshEvent[]): void {
    if (this.leading) return;
    const sorted = events.filter((e) => e && Number.isSafeInteger(e.seq)).sort((a, b) => a.seq - b.seq);
    for (const e of sorted) this.#d.events.insert(e);
  }
}
