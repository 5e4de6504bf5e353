import type { Logger } from '@meshlet/shared';
import type { HealthCheck, ProbeResult } from './health-check.js';
import { HealthThreshold } from './health-threshold.js';
import type { LocalHealth, LocalHealthState } from './local-health.js';

/** Options of {@link HealthMonitor}. */
export interface HealthMonitorOptions {
  check: HealthCheck;
  intervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  log: Logger;
}

/**
 * Probes the app every interval and keeps its state: health through the
 * thresholds, the role of the last passing probe while healthy (none while
 * unhealthy), and the last replication offset seen (kept while the app is
 * down: the last position it reached is what a failover compares). Probes
 * are queued, never two at once, whether scheduled or asked for out of
 * turn ({@link probeNow}).
 */
export class HealthMonitor implements LocalHealth {
  readonly #o: HealthMonitorOptions;
  readonly #threshold: HealthThreshold;
  readonly #listeners = new Set<(state: LocalHealthState) => void>();
  readonly #probeListeners = new Set<(state: LocalHealthState) => void>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #queue: Promise<unknown> = Promise.resolve();
  #state: LocalHealthState = { status: 'unknown', detail: '' };

  constructor(options: HealthMonitorOptions) {
    this.#o = options;
    this.#threshold = new HealthThreshold(options.healthyThreshold, options.unhealthyThreshold);
  }

  /** Current status and the last probe's detail (the admin API's view). */
  get status(): LocalHealthState {
    return this.#state;
  }

  current(): LocalHealthState {
    return this.#state;
  }

  onChange(listener: (state: LocalHealthState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Called after every probe (the offset may have moved); returns a function that stops it. */
  onProbe(listener: (state: LocalHealthState) => void): () => void {
    this.#probeListeners.add(listener);
    return () => this.#probeListeners.delete(listener);
  }

  probeNow(): Promise<LocalHealthState> {
    return this.#enqueue();
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
    await this.#enqueue();
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), this.#o.intervalMs);
  }

  #enqueue(): Promise<LocalHealthState> {
    const next = this.#queue.then(async () => {
      if (this.#stopped) return this.#state;
      let result: ProbeResult;
      try {
        result = await this.#o.check.probe();
      } catch (e) {
        result = { ok: false, detail: `the check failed: ${(e as Error).message}` };
      }
      this.#apply(result);
      return this.#state;
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #apply(result: ProbeResult): void {
    if (this.#stopped) return;
    const before = this.#state;
    const statusChanged = this.#threshold.record(result.ok);
    const status = this.#threshold.status;
    const role = status !== 'healthy' ? undefined : result.ok ? result.role : before.role;
    const state: LocalHealthState = {
      status,
      detail: result.detail,
      ...(role !== undefined ? { role } : {}),
      ...((result.replicationOffset ?? before.replicationOffset) !== undefined
        ? { replicationOffset: result.replicationOffset ?? before.replicationOffset }
        : {}),
    };
    this.#state = state;
    if (statusChanged || role !== before.role) {
      this.#o.log.info({ status, role, detail: result.detail }, 'local app health changed');
      for (const l of this.#listeners) l(state);
    }
    for (const l of this.#probeListeners) l(state);
  }
}
