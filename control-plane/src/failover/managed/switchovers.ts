import type { FailoverState } from '@meshlet/shared';
import type { DecisionSink } from '../../events/event-log.js';
import { failoverEvent, lastCheck } from './failover-events.js';
import type { FailoverMember } from './rank-candidates.js';

/** A switchover asked for: its target, the primary it started from, its deadline and the term it started in. */
export interface Switchover {
  to: string;
  from: string | undefined;
  deadline: number;
  term: number;
}

/**
 * The switchovers in progress, per service: one runs until its target is
 * the primary of a newer term (completed) or its deadline passes
 * (abandoned), each end an event.
 */
export class Switchovers {
  readonly #running = new Map<string, Switchover>();
  readonly #events: DecisionSink;
  readonly #clock: () => number;

  constructor(events: DecisionSink, clock: () => number) {
    this.#events = events;
    this.#clock = clock;
  }

  /** Starts one (the admin API checked it). */
  start(service: string, sw: Switchover): void {
    this.#running.set(service, sw);
  }

  /** Its target, while one runs (without ending it). */
  target(service: string): string | undefined {
    return this.#running.get(service)?.to;
  }

  /** The switchover of `service` in progress, after ending one that completed or ran out of time (each an event). */
  current(service: string, state: FailoverState, members: FailoverMember[]): Switchover | undefined {
    const sw = this.#running.get(service);
    if (!sw) return undefined;
    const evidence = {
      term: state.term,
      startedTerm: sw.term,
      lastCheck: lastCheck(members.find((m) => m.id === sw.to)?.report),
    };
    if (state.primary === sw.to && state.term > sw.term) {
      this.#running.delete(service);
      this.#events.add(
        failoverEvent(
          service,
          'switchover-completed',
          sw.from,
          sw.to,
          `switchover to ${sw.to} completed in term ${state.term}`,
          evidence,
        ),
      );
      return undefined;
    }
    const target = members.find((m) => m.id === sw.to);
    // Before it holds the term, the target is gone (its agent, or its check), or fell behind maxLagBytes once the
    // election is vacant (it may not take the term): waiting for it would keep the fenced primary refusing writes,
    // or leave the service without a primary, until the deadline; and its last report must not look caught up.
    const gone =
      state.holder !== sw.to &&
      (!target?.routable ||
        target.report?.healthy !== true ||
        (state.holder === undefined && !state.candidates.includes(sw.to)));
    if (this.#clock() >= sw.deadline || gone) {
      this.#running.delete(service);
      const why = gone
        ? `${sw.to} is not a healthy routed candidate now (down, or behind policy.failover.maxLagBytes): ` +
          (state.holder !== undefined
            ? `${state.holder} stays the primary of term ${state.term}`
            : 'the election is vacant, the candidates campaign as after a failure')
        : state.holder !== undefined
          ? `after policy.failover.switchoverTimeoutMs: ${state.holder} holds term ${state.term}`
          : 'after policy.failover.switchoverTimeoutMs: the election is vacant, the candidates campaign as after a failure';
      this.#events.add(
        failoverEvent(
          service,
          'switchover-abandoned',
          sw.from,
          sw.to,
          `switchover to ${sw.to} abandoned ${why}`,
          evidence,
        ),
      );
      return undefined;
    }
    return sw;
  }
}
