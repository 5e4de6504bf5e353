import type { Health } from '@meshlet/shared';
import type { LocalHealthState } from './local-health.js';

/** The longest `reason` a `health` message carries. */
const MAX_REASON = 1024;

/** The `health` message for a state; undefined while the status is unknown (no probe yet). */
export function healthMessage(state: LocalHealthState): Health | undefined {
  if (state.status === 'unknown') return undefined;
  return {
    type: 'health',
    status: state.status,
    reason: state.detail.slice(0, MAX_REASON),
    ...(state.role !== undefined ? { role: state.role } : {}),
    ...(state.replicationOffset !== undefined ? { replicationOffset: state.replicationOffset } : {}),
  };
}

/**
 * Decides which probes the control plane hears of: every change of status
 * or role at once, and a moving replication offset at most once per
 * `intervalMs` (by the clock passed in), so a busy database's offset costs
 * one report per check interval, not one per probe run out of turn.
 */
export class HealthReporter {
  readonly #intervalMs: number;
  readonly #clock: () => number;
  #sent: { status: string; role: string | undefined; offset: number | undefined; at: number } | undefined;
  #latest: Health | undefined;

  constructor(options: { intervalMs: number; clock: () => number }) {
    this.#intervalMs = options.intervalMs;
    this.#clock = options.clock;
  }

  /** The newest state's message (what a new stream is told first). */
  get latest(): Health | undefined {
    return this.#latest;
  }

  /** Called after every probe with the monitor's state; returns the message to send now, if any. */
  observe(state: LocalHealthState): Health | undefined {
    const message = healthMessage(state);
    if (!message) return undefined;
    this.#latest = message;
    const now = this.#clock();
    const sent = this.#sent;
    const changed = !sent || sent.status !== message.status || sent.role !== message.role;
    const moved = sent !== undefined && sent.offset !== message.replicationOffset;
    if (!changed && !(moved && now - sent.at >= this.#intervalMs)) return undefined;
    this.#sent = { status: message.status, role: message.role, offset: message.replicationOffset, at: now };
    return message;
  }
}
