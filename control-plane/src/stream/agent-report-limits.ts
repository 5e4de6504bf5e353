import { type ReportRate, ReportLimiter } from './report-limiter.js';

/** Options of {@link AgentReportLimits}. */
export interface AgentReportLimitsOptions {
  rate: ReportRate;
  clock: () => number;
  /** At most this many buckets; past it, the one idle longest goes. */
  maxAgents?: number;
}

/**
 * The report buckets of the agents, keyed by agent id rather than by
 * stream, so that closing and reopening the stream does not refill the
 * bucket. A bucket idle long enough to be full again is forgotten (a new
 * one starts full: nothing is lost); the map is bounded by `maxAgents`,
 * dropping the bucket idle longest first. A new agent id does get a new
 * bucket: ids are the agent's to choose, which is why the health quorum
 * counts credentials, not agents.
 */
export class AgentReportLimits {
  readonly #o: AgentReportLimitsOptions;
  /** In order of last use, oldest first. */
  readonly #buckets = new Map<string, { limiter: ReportLimiter; usedAt: number }>();
  readonly #idleMs: number;

  constructor(options: AgentReportLimitsOptions) {
    this.#o = options;
    this.#idleMs = Math.ceil((options.rate.burst / options.rate.perSecond) * 1000);
  }

  /** Takes a token from `agentId`'s bucket; `false`: over the limit. */
  tryTake(agentId: string): boolean {
    const now = this.#o.clock();
    this.#expire(now);
    let b = this.#buckets.get(agentId);
    if (b) this.#buckets.delete(agentId);
    else b = { limiter: new ReportLimiter(this.#o.rate, this.#o.clock), usedAt: now };
    b.usedAt = now;
    this.#buckets.set(agentId, b);
    const max = this.#o.maxAgents ?? 100_000;
    while (this.#buckets.size > max) this.#buckets.delete(this.#buckets.keys().next().value as string);
    return b.limiter.tryTake();
  }

  /** Buckets held now (for tests and bounds). */
  get size(): number {
    return this.#buckets.size;
  }

  #expire(now: number): void {
    for (const [id, b] of this.#buckets) {
      if (now - b.usedAt <= this.#idleMs) return;
      this.#buckets.delete(id);
    }
  }
}
