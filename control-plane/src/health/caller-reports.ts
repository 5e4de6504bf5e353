import type { EndpointObservation } from '@meshlet/shared';

/** One caller's report about one endpoint. */
interface Sample {
  at: number;
  ok: number;
  failed: number;
  /** The caller's outlier detection ejected it. */
  ejected: boolean;
}

/** What the callers' reports say, right now, about one instance. */
export interface CallerVerdict {
  callers: number;
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
 */
export class CallerReports {
  readonly #byCaller = new Map<string, Sample[]>();

  /** Adds a caller's report. */
  add(callerId: string, o: EndpointObservation, now: number): void {
    let samples = this.#byCaller.get(callerId);
    if (!samples) {
      samples = [];
      this.#byCaller.set(callerId, samples);
    }
    samples.push({ at: now, ok: o.ok, failed: o.failed, ejected: o.ejected === true });
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
    const failing: string[] = [];
    let callers = 0;
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
      callers++;
      counts[caller] = ejected ? { ok, failed, ejected } : { ok, failed };
      if (ejected || (failed >= s.minFailures && failed * 100 >= s.failurePercent * (ok + failed)))
        failing.push(caller);
    }
    return { callers, failing, needed: Math.min(s.quorum, Math.floor(callers / 2) + 1), counts };
  }
}
