import type { EndpointObservation } from '@meshlet/shared';

/** One caller's report about one endpoint. */
interface Sample {
  at: number;
  /** Who the calling agent authenticated as ({@link CallerReports.add}). */
  identity: string;
  ok: number;
  failed: number;
  /** The caller's outlier detection ejected it. */
  ejected: boolean;
}

/** What the callers' reports say, right now, about one instance. */
export interface CallerVerdict {
  /** Distinct caller identities with reports in the window. */
  callers: number;
  /** The failing identities, each named by its failing agents' ids (`a+b` when two agents of one identity fail). */
  failing: string[];
  /** Failing callers needed to mark the instance unhealthy. */
  needed: number;
  /** Per caller in the window: attempts answered and failed. */
  counts: Record<string, { ok: number; failed: number; ejected?: boolean }>;
}

/** The thresholds a verdict applies (`health.*` settings). */
export interface VerdictSettings {
  quorum: number;
  observationWindowMs: number;
  minFailures: number;
  failurePercent: number;
}

const MAX_SAMPLES_PER_CALLER = 64;

/**
 * What the callers of one instance reported about it, by calling agent,
 * within the observation window, and the verdict it adds up to: a caller
 * sees the instance failing when its outlier detection ejected it, or when
 * enough of its attempts failed; the quorum is `quorum` callers, or a
 * majority of the callers when there are fewer.
 *
 * Callers are counted by identity, not by agent: one process that opens two
 * streams under two agent ids with one credential is one caller, so it can
 * never make a quorum alone. Each agent is still judged on its own reports;
 * an identity counts as failing only when a strict majority of its agents
 * in the window see the instance failing. Credentials are minted per
 * service, so the replicas of one calling service share one: one replica's
 * blip must not speak for all of them (a lone caller of 1 would make the
 * quorum), and one replica reporting huge success counts must not mask its
 * peers' failures, as a sum of counts or an OR of ejections would allow.
 * Reports are kept and shown per agent.
 */
export class CallerReports {
  readonly #byCaller = new Map<string, Sample[]>();

  /**
   * Adds a caller's report; `identity`: what the calling agent
   * authenticated as (its join credential), which agents that share it
   * count as one caller by; by default the agent id itself.
   */
  add(callerId: string, o: EndpointObservation, now: number, identity: string = callerId): void {
    let samples = this.#byCaller.get(callerId);
    if (!samples) {
      samples = [];
      this.#byCaller.set(callerId, samples);
    }
    samples.push({ at: now, identity, ok: o.ok, failed: o.failed, ejected: o.ejected === true });
    if (samples.length > MAX_SAMPLES_PER_CALLER) samples.shift();
  }

  /** Forgets every report (the evidence was used up by a decision). */
  clear(): void {
    this.#byCaller.clear();
  }

  /** The callers with reports, as of the last verdict. */
  callers(): string[] {
    return [...this.#byCaller.keys()].sort();
  }

  /** The verdict at `now`, dropping reports older than the window. */
  verdict(now: number, s: VerdictSettings): CallerVerdict {
    const counts: CallerVerdict['counts'] = {};
    const byIdentity = new Map<string, { agents: string[]; failing: string[] }>();
    for (const [caller, samples] of this.#byCaller) {
      while (samples.length > 0 && now - (samples[0] as Sample).at > s.observationWindowMs) samples.shift();
      if (samples.length === 0) {
        this.#byCaller.delete(caller);
        continue;
      }
      let ok = 0;
      let failed = 0;
      let ejected = false;
      for (const x of samples) {
        ok += x.ok;
        failed += x.failed;
        ejected ||= x.ejected;
      }
      counts[caller] = ejected ? { ok, failed, ejected } : { ok, failed };
      // The newest sample says who the agent is now (a reconnect may bring another credential).
      const identity = (samples[samples.length - 1] as Sample).identity;
      const group = byIdentity.get(identity) ?? { agents: [], failing: [] };
      group.agents.push(caller);
      // Each agent is judged on its own counts: summing them would let one agent's counts mask its peers'.
      if (ejected || (failed >= s.minFailures && failed * 100 >= s.failurePercent * (ok + failed)))
        group.failing.push(caller);
      byIdentity.set(identity, group);
    }
    const failing: string[] = [];
    // An identity fails only when most of its agents do: one replica's blip is not its service's verdict.
    for (const g of byIdentity.values())
      if (g.failing.length * 2 > g.agents.length) failing.push(g.failing.sort().join('+'));
    failing.sort();
    const callers = byIdentity.size;
    return { callers, failing, needed: Math.min(s.quorum, Math.floor(callers / 2) + 1), counts };
  }
}
