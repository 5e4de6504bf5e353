import type { Logger } from '@meshlet/shared';
import type { HealthCheck } from './health-check.js';
import { type AppStatus, HealthThreshold } from './health-threshold.js';

/** Options of {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  check: HealthCheck;
  intervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  log: Logger;
  onChange: (status: 'healthy' | 'unhealthy', reason: string) => void;
}

/** Probes the app every interval (never two probes at once) and reports status changes. */
export class HealthMonitor {
  readonly #o: HealthMonitorOptions;
  readonly #threshold: HealthThreshold;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #lastDetail = '';

  constructor(options: HealthMonitorOptions) {
    this.#o = options;
    this.#threshold = new HealthThreshold(options.healthyThreshold, options.unhealthyThreshold);
  }

  /** Current status and the last probe's detail. */
  get status(): { status: AppStatus; detail: string } {
    return { status: this.#threshold.status, detail: this.#lastDetail };
  }

  /** Starts probing at once. */
  start(): void {
    void this.#tick();
  }

  /** Stops probing. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#o.check.close?.();
  }

  async #tick(): Promise<void> {
    const result = await this.#o.check.probe();
    if (this.#stopped) return;
    this.#lastDetail = result.detail;
    if (this.#threshold.record(result.ok)) {
      const status = this.#threshold.status as 'healthy' | 'unhealthy';
      this.#o.log.info({ status, detail: result.detail }, 'local app health changed');
      this.#o.onChange(status, result.detail);
    }
    this.#timer = setTimeout(() => void this.#tick(), this.#o.intervalMs);
  }
}
