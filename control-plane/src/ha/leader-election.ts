import type { Campaign, Election } from 'etcd3';
import type { LinkContext } from './link-context.js';
import type { LeaderInfo } from './live-values.js';

/** Options of {@link LeaderElection}. */
export interface LeaderElectionOptions {
  ctx: LinkContext;
  /** Where operators reach this replica; published with its campaign. */
  advertiseUrl: string;
  leaseTtlSeconds: number;
  /** How long etcd has not answered this replica's keep-alives. */
  silentMs(): number;
  /** This replica became leader (`true`) or stopped being it. */
  onRole(leader: boolean): void;
}

/**
 * This replica's campaign in the etcd election (a key under its own lease;
 * the oldest key leads), and whether it leads. The campaign key, while it
 * leads, fences the leader's writes: a transaction that checks it fails once
 * etcd has handed leadership to another replica.
 */
export class LeaderElection {
  readonly #o: LeaderElectionOptions;
  readonly #ctx: LinkContext;
  readonly #election: Election;
  #campaign: Campaign | undefined;
  #campaignKey: string | undefined;
  #leader = false;

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
    this.#ctx = options.ctx;
    this.#election = options.ctx.client.namespace(options.ctx.prefix).election('leader', options.leaseTtlSeconds);
  }

  /** Whether this replica leads right now. */
  get leader(): boolean {
    return this.#leader;
  }

  /** The campaign key while this replica leads, to fence its writes with; else `undefined`. */
  fence(): string | undefined {
    return this.#leader ? this.#campaignKey : undefined;
  }

  /** Campaigns (again) for leadership. */
  run(): void {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    const value = JSON.stringify({ replicaId: ctx.replicaId, url: this.#o.advertiseUrl } satisfies LeaderInfo);
    const campaign = this.#election.campaign(value);
    this.#campaign = campaign;
    campaign.on('elected', () => {
      if (this.#campaign !== campaign) return;
      campaign
        .getCampaignKey()
        .then((key) => {
          if (this.#campaign !== campaign || ctx.closed) return;
          this.#campaignKey = key;
          ctx.log.info({ replicaId: ctx.replicaId }, 'elected leader');
          this.#setLeader(true);
        })
        .catch((e: unknown) => campaign.emit('error', e));
    });
    campaign.on('error', (e: Error) => {
      if (this.#campaign !== campaign) return;
      if (this.#leader) ctx.log.warn({ err: e.message }, 'lost leadership; following until elected again');
      else ctx.log.warn({ err: e.message }, 'replica link: campaign failed; campaigning again');
      this.#stepDown(campaign);
    });
  }

  /**
   * A leader that etcd has not answered for a whole TTL steps down at once:
   * etcd may already have expired its campaign and elected another replica,
   * and two replicas must not both push their own decisions to their agents.
   * (etcd3 itself would only call the lease lost after twice the TTL.)
   */
  checkLeadership(): void {
    const silentMs = this.#o.silentMs();
    if (!this.#leader || silentMs <= this.#o.leaseTtlSeconds * 1000) return;
    this.#ctx.log.warn(
      { silentMs },
      'no keep-alive answer from etcd for a whole lease TTL; stepping down until elected again',
    );
    this.#stepDown(this.#campaign);
  }

  /** Stops leading as the link closes; the campaign is resigned later, by {@link resign}. */
  follow(): void {
    this.#setLeader(false);
  }

  /** Gives up the campaign: leadership passes on at once instead of after the TTL. */
  resign(): Promise<void> {
    return this.#ctx.bounded(this.#campaign?.resign() ?? Promise.resolve());
  }

  /** Follows, gives up `campaign` (leading or not yet), and campaigns again after a pause. */
  #stepDown(campaign: Campaign | undefined): void {
    this.#campaign = undefined;
    this.#campaignKey = undefined;
    this.#setLeader(false);
    campaign?.resign().catch(() => undefined);
    this.#ctx.later(() => this.run());
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#o.onRole(leader);
  }
}
