/** The app's health as the agent judges it. */
export type AppStatus = 'unknown' | 'healthy' | 'unhealthy';

/**
 * Consecutive-result thresholds, as in Envoy: a healthy app turns unhealthy
 * after `unhealthyThreshold` failures in a row, and back after
 * `healthyThreshold` successes in a row. The very first result decides at
 * once, so a starting instance joins (or stays out of) the mesh without
 * waiting several intervals.
 */
export class HealthThreshold {
  readonly #healthy: number;
  readonly #unhealthy: number;
  #status: AppStatus = 'unknown';
  #streak = 0;
  #streakOk = true;

  constructor(healthyThreshold: number, unhealthyThreshold: number) {
    this.#healthy = healthyThreshold;
    this.#unhealthy = unhealthyThreshold;
  }

  /** Current status. */
  get status(): AppStatus {
    return this.#status;
  }

  /** Records one probe; returns true when the status changed. */
  record(ok: boolean): boolean {
    if (ok === this.#streakOk) this.#streak++;
    else {
      this.#streakOk = ok;
      this.#streak = 1;
    }
    const before = this.#status;
    if (before === 'unknown') this.#status = ok ? 'healthy' : 'unhealthy';
    else if (before === 'healthy' && !ok && this.#streak >= this.#unhealthy) this.#status = 'unhealthy';
    else if (before === 'unhealthy' && ok && this.#streak >= this.#healthy) this.#status = 'healthy';
    return this.#status !== before;
  }
}
