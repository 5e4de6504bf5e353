import type { Lease } from 'etcd3';
import type { LinkContext } from './link-context.js';
import { reachable } from './reachable.js';

/** Options of {@link LeaseKeeper}. */
export interface LeaseKeeperOptions {
  ctx: LinkContext;
  leaseTtlSeconds: number;
  /** The client URLs of the etcd members, probed when etcd goes silent. */
  endpoints: string[];
  /** A new lease was granted: whatever lives under the lease is written again. */
  onLease(): void;
  /** The lease was lost (before a new one is asked for). */
  onLost(): void;
  /** This replica can reach no etcd member (`true`), or can again. */
  onCutOff(cutOff: boolean): void;
  /** Whether an etcd member accepts a connection; default a TCP connect ({@link reachable}). */
  probe?: (endpoint: string) => Promise<boolean>;
}

/**
 * This replica's lease in etcd: granted, kept alive (etcd3 sends the
 * keep-alives), replaced whenever it is lost, and the time of etcd's last
 * answer, which tells when etcd has been silent too long (for leadership)
 * and when this replica may be cut off from every etcd member.
 */
export class LeaseKeeper {
  readonly #o: LeaseKeeperOptions;
  readonly #ctx: LinkContext;
  readonly #probe: (endpoint: string) => Promise<boolean>;
  #lease: Lease | undefined;
  #leaseId: string | undefined;
  #leasing: Promise<void> | undefined;
  /** When etcd last answered a keep-alive of this replica's lease. */
  #keptAliveAt: number;
  #cutOff = false;
  #probing = false;

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
    this.#ctx = options.ctx;
    this.#probe = options.probe ?? reachable;
    this.#keptAliveAt = options.ctx.clock();
  }

  /** The id of the lease held right now, if any. */
  get leaseId(): string | undefined {
    return this.#leaseId;
  }

  /** Counts etcd's silence from now (the link starts). */
  restartSilence(): void {
    this.#keptAliveAt = this.#ctx.clock();
  }

  /** How long etcd has not answered this replica's keep-alives. */
  silentMs(): number {
    return this.#ctx.clock() - this.#keptAliveAt;
  }

  /** Whether etcd has not answered for more than a whole lease TTL. */
  silentForTtl(): boolean {
    return this.silentMs() > this.#o.leaseTtlSeconds * 1000;
  }

  /** Gets a lease, and a new one whenever it is lost. */
  renew(): void {
    const ctx = this.#ctx;
    if (ctx.closed || this.#leasing) return;
    const lease = ctx.client.lease(this.#o.leaseTtlSeconds);
    this.#leasing = ctx
      .bounded(lease.grant())
      .then((id) => {
        if (ctx.closed) {
          lease.revoke().catch(() => undefined);
          return;
        }
        this.#lease = lease;
        this.#leaseId = id;
        this.#keptAliveAt = ctx.clock();
        lease.on('keepaliveSucceeded', () => {
          if (this.#lease === lease) this.#keptAliveAt = ctx.clock();
        });
        lease.on('lost', (e) => {
          if (this.#lease !== lease) return;
          ctx.log.warn(
            { err: e.message },
            'replica link: lease lost; registrations will be written again under a new one',
          );
          this.#lease = undefined;
          this.#leaseId = undefined;
          this.#o.onLost();
          this.renew();
        });
        this.#o.onLease();
      })
      .catch((e: unknown) => {
        lease.revoke().catch(() => undefined);
        ctx.log.warn({ err: (e as Error).message }, 'replica link: etcd granted no lease; trying again');
        ctx.later(() => this.renew());
      })
      .finally(() => (this.#leasing = undefined));
  }

  /** Revokes the lease (on close): what lives under it goes at once instead of after the TTL. */
  revoke(): Promise<void> {
    return this.#ctx.bounded(this.#lease?.revoke() ?? Promise.resolve());
  }

  /**
   * When etcd has not answered a keep-alive for a whole TTL, checks whether
   * any etcd member can be reached at all. If none can, this replica is cut
   * off (etcd has expired or soon expires its lease, and the others take its
   * agents for orphans): it says so, so that its agents are sent to a
   * replica that can reach etcd. An etcd that lost its quorum still accepts
   * connections: then every replica keeps its agents, serving from memory.
   */
  checkCutOff(): void {
    const ctx = this.#ctx;
    if (!this.silentForTtl()) {
      if (this.#cutOff) {
        this.#cutOff = false;
        ctx.log.info('replica link: etcd is reachable again; taking agents again');
        this.#o.onCutOff(false);
      }
      return;
    }
    if (this.#cutOff || this.#probing) return;
    this.#probing = true;
    Promise.all(this.#o.endpoints.map(this.#probe))
      .then((answers) => {
        if (answers.some(Boolean) || this.#cutOff || ctx.closed) return;
        this.#cutOff = true;
        ctx.log.warn(
          { endpoints: this.#o.endpoints },
          'replica link: no etcd member can be reached; this replica is cut off and sends its agents to the other replicas',
        );
        this.#o.onCutOff(true);
      })
      .finally(() => {
        this.#probing = false;
      });
  }
}
