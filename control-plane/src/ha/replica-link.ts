import { type Clock, type Logger, type Observations, systemClock } from '@meshlet/shared';
import type { Etcd3 } from 'etcd3';
import type { MeshEvent } from '../events/event-log.js';
import type { Registration } from '../registry/agent-record.js';
import { LeaderElection } from './leader-election.js';
import { LeaderObserver } from './leader-observer.js';
import { LeaderPublisher } from './leader-publisher.js';
import { LeaseKeeper } from './lease-keeper.js';
import { LinkContext } from './link-context.js';
import { LiveWatch } from './live-watch.js';
import type { LeaderInfo, PublishedTable, SignalBatch } from './live-values.js';
import { RegistrationPublisher } from './registration-publisher.js';
import { SignalPublisher } from './signal-publisher.js';

export type { LeaderInfo, PublishedTable, SignalBatch } from './live-values.js';

/** What the control plane does with what other replicas publish. */
export interface ReplicaLinkHandlers {
  /** This replica became leader (`true`) or stopped being it. */
  onRole(leader: boolean): void;
  /** The elected leader changed (`undefined`: none right now). */
  onLeader(leader: LeaderInfo | undefined): void;
  /** An agent of another replica registered or changed. */
  onRegistration(reg: Registration): void;
  /** The registration of an agent of another replica is gone (its replica forgot it, or died). */
  onRegistrationGone(agentId: string, replica: string): void;
  onSignals(batch: SignalBatch): void;
  /** The leader's table; `replace`: take it even if not newer (this replica just stopped leading, and may have made versions of its own). */
  onTable(table: PublishedTable, replace: boolean): void;
  onEvents(events: MeshEvent[]): void;
  /** This replica can reach no etcd member (`true`), or can again. */
  onCutOff(cutOff: boolean): void;
}

/** Options of {@link ReplicaLink}. */
export interface ReplicaLinkOptions {
  /** The etcd client (the store's). */
  client: Etcd3;
  /** The client URLs of the etcd members, to tell a replica cut off from all of them from an etcd that lost its quorum. */
  endpoints: string[];
  /** The store's key prefix; the link's keys live under `<prefix>live/` and `<prefix>election/`. */
  prefix: string;
  replicaId: string;
  /** Where operators reach this replica; published with its campaign. */
  advertiseUrl: string;
  leaseTtlSeconds: number;
  requestTimeoutMs: number;
  log: Logger;
  handlers: ReplicaLinkHandlers;
  /** The time source of the lease's silence and of being in touch with etcd; default the wall clock. */
  clock?: Clock;
}

/** How often a replica publishes its signal batch. */
const SIGNAL_INTERVAL_MS = 500;

/**
 * What one control-plane replica shares with the others through etcd, beside
 * the configuration the store keeps:
 *
 * - leadership: every replica campaigns in an etcd election
 *   ({@link LeaderElection}), and observes who leads ({@link LeaderObserver});
 * - `live/agents/<agentId>`: the registration of each agent connected to this
 *   replica, under its lease ({@link LeaseKeeper}), so that it vanishes when
 *   the replica dies ({@link RegistrationPublisher});
 * - `live/signals/<replicaId>`: every {@link SIGNAL_INTERVAL_MS}, under the
 *   lease, when this replica last heard from each of its agents and what
 *   their callers observed, so that every replica's health engine sees
 *   every signal ({@link SignalPublisher});
 * - `live/table` and `live/events`: the leader's routing table and latest
 *   decisions, written only while it holds leadership (checked in the same
 *   transaction, {@link LeaderPublisher}), which the followers adopt
 *   ({@link LiveWatch}).
 *
 * When etcd loses its quorum the lease cannot be kept alive: the replica
 * stops leading, keeps what it holds in memory, and gets a new lease (then
 * writes its registrations again) once etcd answers.
 */
export class ReplicaLink {
  readonly #ctx: LinkContext;
  readonly #lease: LeaseKeeper;
  readonly #election: LeaderElection;
  readonly #observer: LeaderObserver;
  readonly #registrations: RegistrationPublisher;
  readonly #signals: SignalPublisher;
  readonly #leaderWrites: LeaderPublisher;
  readonly #watch: LiveWatch;
  #ticks = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ReplicaLinkOptions) {
    const { handlers: h, leaseTtlSeconds } = options;
    const ctx = new LinkContext({ ...options, clock: options.clock ?? systemClock });
    this.#ctx = ctx;
    this.#signals = new SignalPublisher(ctx);
    this.#lease = new LeaseKeeper({
      ctx,
      leaseTtlSeconds,
      endpoints: options.endpoints,
      onLease: () => this.#registrations.writeAll(),
      onLost: () => this.#signals.lostTouch(),
      onCutOff: (cutOff) => h.onCutOff(cutOff),
    });
    this.#registrations = new RegistrationPublisher(ctx, () => this.#lease.leaseId);
    this.#election = new LeaderElection({
      ctx,
      advertiseUrl: options.advertiseUrl,
      leaseTtlSeconds,
      silentMs: () => this.#lease.silentMs(),
      onRole: (leader) => {
        h.onRole(leader);
        if (!leader && !ctx.closed) this.#watch.adoptStoredTable();
      },
    });
    this.#observer = new LeaderObserver(ctx, (info) => h.onLeader(info));
    this.#leaderWrites = new LeaderPublisher(ctx, () => this.#election.fence());
    this.#watch = new LiveWatch({
      ctx,
      handlers: h,
      yieldTo: (agentId, modRevision) => this.#registrations.yieldTo(agentId, modRevision),
      leading: () => this.#election.leader,
    });
  }

  /**
   * Whether this replica has been in touch with etcd for at least `ms`
   * without a break. Only then does the silence of another replica's agent
   * mean anything: cut off from etcd, no replica's word arrives.
   */
  inTouch(ms: number): boolean {
    return this.#signals.inTouch(ms);
  }

  /** Whether this replica leads right now. */
  get leader(): boolean {
    return this.#election.leader;
  }

  /**
   * Reads what the other replicas published (registrations, the table, the
   * latest decisions) and watches it, then campaigns for leadership in the
   * background. `seen` gives the ages to publish for this replica's agents.
   */
  async start(seen: () => Record<string, number>): Promise<void> {
    const ctx = this.#ctx;
    this.#signals.seen = seen;
    this.#lease.restartSilence();
    const mine = await ctx.bounded(ctx.client.get(ctx.keys.signals + ctx.replicaId).exists());
    if (mine) {
      ctx.log.warn(
        { replicaId: ctx.replicaId },
        'another replica publishes under this replicaId (or this one ran less than a lease TTL ago): give every replica its own store.etcd.replicaId',
      );
    }
    await this.#watch.relist();
    this.#lease.renew();
    this.#election.run();
    this.#observer.observe();
    this.#timer = setInterval(() => this.#tick(), SIGNAL_INTERVAL_MS);
  }

  /** Publishes (or updates) the registration of an agent of this replica. */
  register(reg: Registration): void {
    this.#registrations.register(reg);
  }

  /** Withdraws the registration of an agent this replica forgot (only if it still owns it). */
  unregister(agentId: string): void {
    this.#registrations.unregister(agentId);
  }

  /** Queues an observation report of an agent of this replica for the next signal batch. */
  observed(agentId: string, report: Observations, identity?: string): void {
    this.#signals.observed(agentId, report, identity);
  }

  /** Publishes the leader's new table; refused by etcd if this replica no longer leads. */
  publishTable(table: PublishedTable): void {
    this.#leaderWrites.publish(
      this.#ctx.keys.table,
      {
        version: table.version,
        nonce: table.nonce,
        services: table.services,
        ...(table.trust === undefined ? {} : { trust: table.trust }),
      },
      `table version ${table.version}`,
    );
  }

  /** Publishes the leader's latest decisions. */
  publishEvents(events: MeshEvent[]): void {
    this.#leaderWrites.publish(this.#ctx.keys.events, events, 'decisions');
  }

  async close(): Promise<void> {
    this.#ctx.close();
    if (this.#timer) clearInterval(this.#timer);
    this.#election.follow();
    await this.#registrations.drain();
    // Resigning hands leadership over at once instead of after the TTL; revoking the lease drops the registrations.
    await Promise.allSettled([
      this.#election.resign(),
      this.#lease.revoke(),
      this.#observer.close(),
      this.#watch.close(),
    ]);
  }

  /** Every {@link SIGNAL_INTERVAL_MS}: checks leadership and etcd's reach, reads the leader every 2 s, and publishes the signal batch. */
  #tick(): void {
    this.#election.checkLeadership();
    if (++this.#ticks % 4 === 0) this.#observer.read();
    if (this.#ticks % 4 === 2) this.#watch.checkBehind();
    this.#lease.checkCutOff();
    const leaseId = this.#lease.leaseId;
    this.#signals.publish(leaseId);
    if (leaseId === undefined) return;
    this.#leaderWrites.retry();
  }
}
