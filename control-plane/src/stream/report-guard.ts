import type { Health, Logger, Observations } from '@meshlet/shared';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { TableSink } from '../push/table-sink.js';
import { AgentReportLimits } from './agent-report-limits.js';
import type { ReportRate } from './report-limiter.js';
import { SharedIdentities } from './shared-identities.js';

/** Options of {@link ReportGuard}. */
export interface ReportGuardOptions {
  rate: ReportRate;
  /** Whether the endpoint `id` of `service` was sent to the agent of `sink` in its table (the pusher knows). */
  wasSent: (sink: TableSink, service: string, id: string) => boolean;
  /** Whether any table was sent to the agent of `sink` on its stream yet. */
  tableSent: (sink: TableSink) => boolean;
  metrics: ControlPlaneMetrics;
  log: Logger;
  clock: () => number;
  /** At most one warning per agent and kind this often, with the count since the last one. */
  logEveryMs?: number;
  /** Agents of one identity that reported within this long of each other are watched as one caller ({@link SharedIdentities}). */
  sharedWithinMs?: number;
  /** At most this many agents' buckets are kept ({@link AgentReportLimits}). */
  maxAgents?: number;
}

/** What the guard keeps of one agent's stream. */
interface StreamState {
  /** The newest health report held back by the limit, applied when a token is free again. */
  heldHealth: Health | undefined;
  /** Refusals not logged yet, by kind, and when that kind was last logged. */
  unlogged: Map<string, { count: number; loggedAt: number }>;
}

/**
 * Binds what an agent reports to what it was told, and bounds how much:
 *
 * - observations name only endpoints that were sent to that agent in its
 *   table on this stream; the others are dropped before they reach the
 *   health engine, the statistics and the other replicas (an agent cannot
 *   vote on an instance it was never told of);
 * - observations and health reports share one token bucket per agent id
 *   (kept across its reconnects, {@link AgentReportLimits}). An
 *   observation report over the limit is dropped (the next one covers
 *   its window too); a health report over it is held, the newest one wins,
 *   and it is applied at the agent's next heartbeat with a token free,
 *   since an agent reports its health only on a change.
 *
 * It also watches the agents whose accepted reports share one caller
 * identity (a credential), which the health engine counts as one caller,
 * and counts and logs the suspicious merges ({@link SharedIdentities}).
 *
 * Every refusal is counted (`meshlet_cp_reports_refused_total{type,reason}`)
 * and logged at warn with the agent id, at most once per agent and kind
 * every `logEveryMs`, so a flood does not flood the log too.
 */
export class ReportGuard {
  readonly #o: ReportGuardOptions;
  readonly #streams = new WeakMap<TableSink, StreamState>();
  readonly #limits: AgentReportLimits;
  readonly #shared: SharedIdentities;

  constructor(options: ReportGuardOptions) {
    this.#o = options;
    this.#limits = new AgentReportLimits({
      rate: options.rate,
      clock: options.clock,
      ...(options.maxAgents === undefined ? {} : { maxAgents: options.maxAgents }),
    });
    this.#shared = new SharedIdentities({
      metrics: options.metrics,
      log: options.log,
      clock: options.clock,
      ...(options.sharedWithinMs === undefined ? {} : { withinMs: options.sharedWithinMs }),
    });
  }

  /**
   * The part of `report` the agent may make, or `undefined` when nothing of
   * it counts; `identity`: what the agent counts as among callers, to count
   * and log agents that share one (their reports add up to one caller).
   */
  observations(sink: TableSink, report: Observations, identity: string): Observations | undefined {
    const state = this.#state(sink);
    if (!this.#limits.tryTake(sink.record.agentId)) {
      this.#refused(sink, state, 'observations', 'rate_limited', 1);
      return undefined;
    }
    if (!this.#o.tableSent(sink)) {
      // Right after a control plane's start (the startup grace) agents report from the table they held
      // before: expected, so counted but not logged.
      this.#o.metrics.reportsRefused.inc({ type: 'observations', reason: 'no_table_yet' }, report.endpoints.length);
      return undefined;
    }
    const endpoints = report.endpoints.filter((o) => this.#o.wasSent(sink, o.service, o.id));
    const dropped = report.endpoints.length - endpoints.length;
    if (dropped > 0) this.#refused(sink, state, 'observations', 'not_sent', dropped);
    if (endpoints.length === 0) return undefined;
    this.#shared.note(sink.record, identity);
    return dropped === 0 ? report : { ...report, endpoints };
  }

  /** The health report to apply now, or `undefined` when it is held back by the limit. */
  health(sink: TableSink, report: Health): Health | undefined {
    const state = this.#state(sink);
    if (this.#limits.tryTake(sink.record.agentId)) {
      state.heldHealth = undefined;
      return report;
    }
    state.heldHealth = report;
    this.#refused(sink, state, 'health', 'rate_limited', 1);
    return undefined;
  }

  /** A held health report that may be applied now (called on each heartbeat). */
  heldHealth(sink: TableSink): Health | undefined {
    const state = this.#streams.get(sink);
    if (!state?.heldHealth || !this.#limits.tryTake(sink.record.agentId)) return undefined;
    const held = state.heldHealth;
    state.heldHealth = undefined;
    return held;
  }

  #state(sink: TableSink): StreamState {
    let state = this.#streams.get(sink);
    if (!state) {
      state = { heldHealth: undefined, unlogged: new Map() };
      this.#streams.set(sink, state);
    }
    return state;
  }

  #refused(sink: TableSink, state: StreamState, type: string, reason: string, count: number): void {
    const { metrics, log, clock, logEveryMs = 10_000 } = this.#o;
    metrics.reportsRefused.inc({ type, reason }, count);
    const key = `${type}/${reason}`;
    const now = clock();
    const seen = state.unlogged.get(key);
    if (seen && now - seen.loggedAt < logEveryMs) {
      seen.count += count;
      return;
    }
    const total = (seen?.count ?? 0) + count;
    state.unlogged.set(key, { count: 0, loggedAt: now });
    const agentId = sink.record.agentId;
    if (reason === 'not_sent') {
      log.warn(
        { agentId, remoteAddress: sink.record.remoteAddress, refused: total },
        'refused observations of endpoints never sent to this agent',
      );
    } else {
      log.warn(
        { agentId, remoteAddress: sink.record.remoteAddress, type, refused: total, perSecond: this.#o.rate.perSecond },
        `agent reports over the rate limit (stream.reportsPerSecond): ${type} dropped`,
      );
    }
  }
}
