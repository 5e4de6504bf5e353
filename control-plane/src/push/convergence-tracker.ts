/** How long one change took to reach every agent it concerned. */
export interface Convergence {
  version: number;
  /** When the change was decided (the first change of the burst that made the version). */
  decidedAt: number;
  convergedAt: number;
  durationMs: number;
  /** Agents that were sent the change. */
  agents: number;
  /** Of them, those that NACKed it or went away instead of ACKing. */
  unanswered: number;
}

/** A change not answered by every agent within this time is recorded as converged at the deadline, with the rest counted as unanswered. */
const CONVERGENCE_DEADLINE_MS = 60_000;

interface PendingChange {
  decidedAt: number;
  agents: number;
  remaining: number;
  unanswered: number;
}

/**
 * Measures how long each change of the routing table takes to reach the
 * agents it concerns: from the moment it was decided to the last answer
 * (ACK, NACK, or the agent going away) of the agents it was sent to, or the
 * deadline, whichever comes first. `A` is whatever names an agent.
 */
export class ConvergenceTracker<A> {
  readonly #clock: () => number;
  readonly #onConverged: (c: Convergence) => void;
  /** Changes still waiting for answers, oldest first. */
  readonly #changes = new Map<number, PendingChange>();
  /** Per agent, the versions sent to it whose convergence waits for its answer, oldest first. */
  readonly #waiting = new Map<A, number[]>();

  constructor(options: { clock: () => number; onConverged?: (c: Convergence) => void }) {
    this.#clock = options.clock;
    this.#onConverged = options.onConverged ?? (() => undefined);
  }

  /** Notes that `version`, a change that concerns the agent, was sent to it: its answer counts for the change's convergence. */
  sent(agent: A, version: number): void {
    let versions = this.#waiting.get(agent);
    if (!versions) {
      versions = [];
      this.#waiting.set(agent, versions);
    }
    versions.push(version);
  }

  /** Starts waiting for the answers of the `agents` that `version`, a change decided at `decidedAt`, was {@link sent} to (nothing when it concerned none). */
  track(version: number, decidedAt: number, agents: number): void {
    if (agents > 0) this.#changes.set(version, { decidedAt, agents, remaining: agents, unanswered: 0 });
  }

  /** Counts the agent's answer to every change it was sent up to `version` (`acked`: an ACK, else a NACK). */
  answer(agent: A, version: number, acked: boolean): void {
    const versions = this.#waiting.get(agent);
    if (!versions) return;
    const now = this.#clock();
    while (versions.length > 0 && (versions[0] as number) <= version) {
      const v = versions.shift() as number;
      const p = this.#changes.get(v);
      if (!p) continue;
      p.remaining--;
      if (!acked) p.unanswered++;
      if (p.remaining === 0) this.#close(v, p, now, p.unanswered);
    }
  }

  /** The agent went away: changes it had not answered stop waiting for it. */
  forget(agent: A): void {
    this.answer(agent, Number.MAX_SAFE_INTEGER, false);
    this.#waiting.delete(agent);
  }

  /** Closes changes still unanswered after the deadline. */
  expire(): void {
    const now = this.#clock();
    let expired = false;
    for (const [v, p] of this.#changes) {
      if (now - p.decidedAt < CONVERGENCE_DEADLINE_MS) break;
      expired = true;
      this.#close(v, p, now, p.unanswered + p.remaining);
    }
    if (!expired) return;
    for (const versions of this.#waiting.values()) {
      while (versions.length > 0 && !this.#changes.has(versions[0] as number)) versions.shift();
    }
  }

  /** The change stops waiting, converged at `now` with `unanswered` agents that never ACKed. */
  #close(version: number, p: PendingChange, now: number, unanswered: number): void {
    this.#changes.delete(version);
    this.#onConverged({
      version,
      decidedAt: p.decidedAt,
      convergedAt: now,
      durationMs: now - p.decidedAt,
      agents: p.agents,
      unanswered,
    });
  }
}
