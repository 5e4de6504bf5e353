import type { Observations } from '@meshlet/shared';
import type { LinkContext } from './link-context.js';
import type { SignalBatch } from './live-values.js';

/** At most this many observation reports go in one signal batch (etcd refuses a request above 1.5 MiB by default); the rest are dropped. */
const MAX_BATCH_REPORTS = 2_000;

/**
 * Publishes this replica's signal batch under `live/signals/<replicaId>`,
 * under its lease: when it last heard from each of its agents and what
 * their callers observed since the last batch, so that every replica's
 * health engine sees every signal. Whether the batches reach etcd tells
 * whether this replica is in touch with it.
 */
export class SignalPublisher {
  readonly #ctx: LinkContext;
  #observations: SignalBatch['observations'] = [];
  #seen: () => Record<string, number> = () => ({});
  /** Since when every signal batch reached etcd (undefined: the last one did not). */
  #touchSince: number | undefined;
  #failing = false;

  constructor(ctx: LinkContext) {
    this.#ctx = ctx;
  }

  /** Where the ages of this replica's agents come from. */
  set seen(seen: () => Record<string, number>) {
    this.#seen = seen;
  }

  /** Queues an observation report of an agent of this replica for the next batch. */
  observed(agentId: string, report: Observations, identity?: string): void {
    this.#observations.push(identity === undefined ? { agentId, report } : { agentId, report, identity });
  }

  /**
   * Whether this replica has been in touch with etcd for at least `ms`
   * without a break. Only then does the silence of another replica's agent
   * mean anything: cut off from etcd, no replica's word arrives.
   */
  inTouch(ms: number): boolean {
    return this.#touchSince !== undefined && this.#ctx.clock() - this.#touchSince >= ms;
  }

  /** Out of touch with etcd (the lease was lost) until a batch reaches it again. */
  lostTouch(): void {
    this.#touchSince = undefined;
  }

  /** Publishes the batch under `leaseId`; without a lease, the queued reports are dropped. */
  publish(leaseId: string | undefined): void {
    const ctx = this.#ctx;
    let observations = this.#observations;
    this.#observations = [];
    if (leaseId === undefined) return;
    if (observations.length > MAX_BATCH_REPORTS) {
      ctx.log.warn(
        { reports: observations.length, kept: MAX_BATCH_REPORTS },
        'replica link: too many observation reports for one batch; the oldest are dropped',
      );
      observations = observations.slice(-MAX_BATCH_REPORTS);
    }
    const batch: SignalBatch = { replica: ctx.replicaId, seen: this.#seen(), observations };
    ctx
      .bounded(
        ctx.client
          .put(ctx.keys.signals + ctx.replicaId)
          .value(JSON.stringify(batch))
          .lease(leaseId)
          .exec(),
      )
      .then(() => {
        this.#touchSince ??= ctx.clock();
        if (this.#failing) ctx.log.info('replica link: signals reach etcd again');
        this.#failing = false;
      })
      .catch((e: unknown) => {
        // Observations are perishable: a batch etcd could not take is dropped, the next one carries the rest.
        this.#touchSince = undefined;
        if (!this.#failing)
          ctx.log.warn(
            { err: (e as Error).message },
            "replica link: could not publish signals; the other replicas give this one's agents the benefit of the doubt meanwhile",
          );
        this.#failing = true;
      });
  }
}
