import { type CoordReason, FAILOVER_ELECTION, type Logger, SharedErrorCodes } from '@meshlet/shared';
import type { CoordClient } from '../coordination/coord-client.js';
import { HeldLeases } from '../coordination/held-leases.js';

/** How a campaign ended: the term won, or why not (the control plane's code and message, or the stream's failure). */
export type CampaignOutcome = { ok: true; token: number } | { ok: false; code: string; message: string };

/** Options of {@link FailoverLease}. */
export interface FailoverLeaseOptions {
  client: CoordClient;
  clock: () => number;
  log: Logger;
  /** The stream dropped or a renewal went unanswered: the term may be lost (stop serving as primary). */
  onDoubt: () => void;
  /** A renewal succeeded after a doubt. */
  onRestored: () => void;
  /** The term is gone (its lease ran out as the agent counts it, the control plane said so, or a renewal was answered not held). */
  onLost: (token: number, reason: string) => void;
}

/**
 * This agent's hold on its service's failover election (the term), through
 * the agent's coordination client over its control-plane stream (not the
 * app's API): the campaign, a renewal every third of the lease, and the
 * signals of docs/coordination.md counted as the app's leases are ({@link
 * HeldLeases}: from when each request was sent): `doubt` when the stream
 * drops or a renewal has no answer, `lost` when the lease ends without a
 * renewal, when the control plane may have freed it for the agent being
 * away, or when it tells the holder so.
 */
export class FailoverLease {
  readonly #o: FailoverLeaseOptions;
  readonly #leases: HeldLeases;
  #held: { token: number; ttlMs: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #doubt = false;
  readonly #stops: (() => void)[] = [];

  constructor(options: FailoverLeaseOptions) {
    this.#o = options;
    this.#leases = new HeldLeases(options.clock, (lease, reason) => this.#lose(lease.token, reason));
    this.#stops.push(
      options.client.onEvent((e) => {
        if (e.state.kind !== 'election' || e.state.name !== FAILOVER_ELECTION) return;
        if (e.lost !== undefined && e.lost === this.#held?.token) this.#lose(e.lost, e.reason);
      }),
      options.client.onConnection((connected) => {
        if (this.#held === undefined) return;
        if (connected) {
          this.#leases.back();
          void this.#renew();
        } else {
          this.#leases.away(this.#o.clock());
          this.#setDoubt();
        }
      }),
    );
  }

  /** The term held now, if any. */
  get token(): number | undefined {
    return this.#held?.token;
  }

  /** Whether the hold is in doubt (the stream dropped, a renewal unanswered): no primary traffic is admitted. */
  get inDoubt(): boolean {
    return this.#doubt;
  }

  /** Campaigns once (no waiting: the manager decides when to try again). */
  async campaign(ttlMs: number, label: string): Promise<CampaignOutcome> {
    try {
      const { result, sentAt } = await this.#o.client.request({
        op: 'acquire',
        kind: 'election',
        name: FAILOVER_ELECTION,
        ttlMs,
        label,
        releaseOnUnhealthy: true,
      });
      const token = result.state?.token;
      if (!result.ok || token === undefined)
        return { ok: false, code: result.code ?? 'MESHLET_LOCK_HELD', message: result.message ?? 'held' };
      this.#held = { token, ttlMs };
      this.#doubt = false;
      const grace = result.disconnectGraceMs;
      this.#leases.hold({
        kind: 'election',
        name: FAILOVER_ELECTION,
        token,
        expiresAt: sentAt + ttlMs,
        ...(grace === undefined ? {} : { disconnectGraceMs: grace }),
      });
      this.#timer = setInterval(() => void this.#renew(), Math.max(100, Math.floor(ttlMs / 3)));
      this.#timer.unref();
      return { ok: true, token };
    } catch (e) {
      const err = e as Error & { code?: string };
      return { ok: false, code: err.code ?? 'MESHLET_COORDINATION_UNAVAILABLE', message: err.message };
    }
  }

  /**
   * Gives term `token` up (resigns) if it is still the one held (never a newer one); forgotten here whatever the
   * control plane answers (a lapse frees it otherwise).
   */
  async resign(token: number): Promise<void> {
    const held = this.#held;
    if (held === undefined || held.token !== token) return;
    this.#forget(held.token);
    await this.#o.client
      .request({ op: 'release', kind: 'election', name: FAILOVER_ELECTION, token: held.token })
      .then(({ result }) => {
        if (!result.ok) this.#o.log.warn({ token: held.token, code: result.code }, 'failover: resign not accepted');
      })
      .catch(() => undefined); // no stream: the lease lapses with its TTL
  }

  /** Stops renewing and forgets the term without telling anyone (the agent is stopping; the lease lapses). */
  close(): void {
    if (this.#held) this.#forget(this.#held.token);
    for (const stop of this.#stops) stop();
    this.#leases.close();
  }

  async #renew(): Promise<void> {
    const held = this.#held;
    if (held === undefined) return;
    try {
      const { result, sentAt } = await this.#o.client.request({
        op: 'renew',
        kind: 'election',
        name: FAILOVER_ELECTION,
        token: held.token,
        ttlMs: held.ttlMs,
      });
      if (this.#held?.token !== held.token) return;
      if (!result.ok) {
        // Only "not held" means the term is gone. Any other refusal (`limit`: the stream's coordination rate, shared
        // with the app's calls; `store`: the store did not answer) leaves the lease as it was: in doubt until a
        // renewal is answered, lost when it runs out uncounted (HeldLeases).
        if (result.code === SharedErrorCodes.LOCK_NOT_HELD) this.#lose(held.token, result.code);
        else {
          this.#o.log.warn(
            { term: held.token, code: result.code, refusal: result.refusal },
            'failover: renewal refused',
          );
          this.#setDoubt();
        }
        return;
      }
      this.#leases.hold({
        kind: 'election',
        name: FAILOVER_ELECTION,
        token: held.token,
        expiresAt: sentAt + held.ttlMs,
        ...(result.disconnectGraceMs === undefined ? {} : { disconnectGraceMs: result.disconnectGraceMs }),
      });
      if (this.#doubt) {
        this.#doubt = false;
        this.#o.log.info({ term: held.token }, 'failover: the term is renewed again');
        this.#o.onRestored();
      }
    } catch {
      if (this.#held?.token === held.token) this.#setDoubt();
    }
  }

  #setDoubt(): void {
    if (this.#doubt) return;
    this.#doubt = true;
    this.#o.log.warn({ term: this.#held?.token }, 'failover: the term is in doubt (no answer from the control plane)');
    this.#o.onDoubt();
  }

  #lose(token: number, reason: CoordReason | string): void {
    if (this.#held?.token !== token) return;
    this.#forget(token);
    this.#o.onLost(token, reason);
  }

  #forget(token: number): void {
    clearInterval(this.#timer);
    this.#leases.release('election', FAILOVER_ELECTION, token);
    this.#held = undefined;
    this.#doubt = false;
  }
}
