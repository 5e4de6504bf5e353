import type { CoordReason, FailoverState, ManagedFailoverPolicy, ServiceRoutes } from '@meshlet/shared';
import type { DecisionSink } from '../../events/event-log.js';
import type { InstanceRoles } from '../../health/instance-roles.js';
import { endCause, failoverEvent, lagOf, lastCheck } from './failover-events.js';
import { type FailoverMember, rankCandidates, referenceOffset, sittingPrimaries } from './rank-candidates.js';
import { type SwitchoverOutcome, switchoverProblem } from './switchover-problem.js';
import { describeFailover, type FailoverDescription, withCaughtUp } from './failover-description.js';
import { Switchovers } from './switchovers.js';

/** The failover election of a service as the coordinator has it: its holder's instance and term. */
export interface ElectionView {
  holder: string;
  token: number;
}

/** The last term, holder, primary and primary offset seen of a service (kept while the election is vacant). */
interface LastTerm {
  term: number;
  holder: string | undefined;
  primary: string | undefined;
  offset: number | undefined;
}

/** Options of {@link ManagedFailover}. */
export interface ManagedFailoverOptions {
  roles: InstanceRoles;
  /** The service's `policy.failover`, when it is managed. */
  policyOf: (service: string) => ManagedFailoverPolicy | undefined;
  /** The services whose policy is managed now. */
  services: () => string[];
  /** The service's instances: routable, priority, (reports are read from `roles`). */
  members: (service: string) => Omit<FailoverMember, 'report'>[];
  events: DecisionSink;
  clock: () => number;
  /** A state changed: build and push a table. */
  onChange: () => void;
}

/**
 * The control plane's part of managed failover (`policy.failover.mode:
 * managed`, see docs/databases.md). It does not choose a primary itself: the
 * agents campaign in the service's FAILOVER_ELECTION, and this publishes
 * what follows from the election and the checks' reports in every table
 * ({@link FailoverState}): the term (the holder's token), the holder, the
 * primary (the holder once its check says primary), the candidates, and a
 * switchover in progress. It refuses the election to an instance that is not
 * a candidate while there are candidates, and records every step as a
 * `primary` event with its evidence.
 */
export class ManagedFailover {
  readonly #o: ManagedFailoverOptions;
  #read: (service: string) => ElectionView | undefined = () => undefined;
  /** The last term and primary seen per service (the term stays published while the election is vacant). */
  readonly #last = new Map<string, LastTerm>();
  /** Why the election was last freed, per service (the cause of the next term). */
  readonly #released = new Map<string, string>();
  /** The last term whose end was recorded, per service (an event once per term). */
  readonly #ended = new Map<string, number>();
  readonly #switchovers: Switchovers;
  /** The state last published per service (JSON), to push only when it changes. */
  readonly #published = new Map<string, string>();
  /** When this control plane first evaluated each service (the bootstrap hold counts from there). */
  readonly #firstSeen = new Map<string, number>();
  /** Since when a sitting primary was behind the best standby with no term known, per service (cleared on catching up). */
  readonly #behindSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ManagedFailoverOptions) {
    this.#o = options;
    this.#switchovers = new Switchovers(options.events, options.clock);
  }

  /** Where the elections are read (the coordinator, once it is open). */
  useElections(read: (service: string) => ElectionView | undefined): void {
    this.#read = read;
  }

  /**
   * Re-evaluates every managed service every `intervalMs` (offsets move
   * without a role change; a switchover's deadline passes) and pushes a table
   * when a state changed.
   */
  start(intervalMs = 250): void {
    this.#timer = setInterval(() => this.sweep(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Evaluates every managed service now; calls `onChange` when one's state differs from the last published. */
  sweep(): void {
    let changed = false;
    for (const service of this.#o.services()) {
      const s = JSON.stringify(this.state(service));
      if (this.#published.get(service) !== s) changed = true;
    }
    if (changed) this.#o.onChange();
  }

  /** Sets `routes.failover` for a managed service (the table builder calls it for every service). */
  attach(service: string, routes: ServiceRoutes): void {
    const state = this.state(service);
    if (state === undefined) {
      this.#published.delete(service);
      return;
    }
    routes.failover = state;
    this.#published.set(service, JSON.stringify(state));
  }

  /** The coordinator announced a change of an election (any; only managed services' failover elections count). */
  electionChanged(service: string, holder: ElectionView | undefined, reason: CoordReason): void {
    const policy = this.#o.policyOf(service);
    if (policy === undefined) return;
    const last = this.#last.get(service);
    if (holder === undefined) {
      this.#termEnded(service, last, reason);
      this.#o.onChange();
      return;
    }
    const roles = this.#o.roles;
    const old = last?.primary;
    const switchoverTo = this.#switchovers.target(service);
    const cause = switchoverTo === holder.holder ? 'switchover' : (this.#released.get(service) ?? 'first election');
    this.#released.delete(service);
    const oldReport = old === undefined ? undefined : roles.get(service, old);
    const newReport = roles.get(service, holder.holder);
    // Lags from the most advanced offset known (the old primary's own report may be behind its last published one).
    const known = [oldReport?.replicationOffset, last?.offset].filter((o): o is number => o !== undefined);
    const offset = known.length === 0 ? undefined : Math.max(...known);
    this.#o.events.add(
      failoverEvent(service, 'term-began', old, holder.holder, `term ${holder.token} began: ${cause}`, {
        term: holder.token,
        previousTerm: last?.term ?? 0,
        oldPrimary: old,
        newPrimary: holder.holder,
        cause,
        lagBytes: { old: lagOf(oldReport, offset), new: lagOf(newReport, offset) },
        lastCheck: { old: lastCheck(oldReport), new: lastCheck(newReport) },
      }),
    );
    this.#o.onChange();
  }

  /** The election became vacant: records why (for the next term) and, once per term, the `term-ended` event. */
  #termEnded(service: string, last: LastTerm | undefined, reason: CoordReason): void {
    const ended = last?.holder;
    const report = ended === undefined ? undefined : this.#o.roles.get(service, ended);
    const wasPrimary = ended !== undefined && last?.primary === ended;
    const cause = endCause(reason, report, wasPrimary, this.#switchovers.target(service));
    this.#released.set(service, cause);
    if (last === undefined || ended === undefined || this.#ended.get(service) === last.term) return;
    this.#ended.set(service, last.term);
    this.#o.events.add(
      failoverEvent(service, 'term-ended', ended, undefined, `term ${last.term} ended: ${cause}`, {
        term: last.term,
        holder: ended,
        wasPrimary,
        cause,
        lastCheck: lastCheck(report),
      }),
    );
  }

  /** The failover state of a managed service now (undefined: not managed). */
  state(service: string): FailoverState | undefined {
    const policy = this.#o.policyOf(service);
    if (policy === undefined) return undefined;
    const members = this.#members(service);
    const election = this.#read(service);
    const last: LastTerm = this.#last.get(service) ?? {
      term: 0,
      holder: undefined,
      primary: undefined,
      offset: undefined,
    };
    const term = election?.token ?? last.term;
    const holderMember = election && members.find((m) => m.id === election.holder);
    const r = holderMember?.report;
    const primary = holderMember?.routable && r?.healthy && r.role === 'primary' ? holderMember.id : undefined;
    const offset = (primary !== undefined ? r?.replicationOffset : undefined) ?? last.offset;
    if (primary !== undefined && (last.primary !== primary || last.term !== term)) {
      this.#o.events.add(
        failoverEvent(
          service,
          'primary-published',
          last.primary,
          primary,
          `${primary} is the primary of term ${term}`,
          {
            term,
            lastCheck: lastCheck(r),
          },
        ),
      );
    }
    const holder = election?.holder ?? last.holder;
    this.#last.set(service, { term, holder, primary: primary ?? (election ? undefined : last.primary), offset });
    const state: FailoverState = {
      term,
      candidates: this.#candidates(service, members, election, referenceOffset(offset, members), policy, term, holder),
    };
    if (election) state.holder = election.holder;
    if (primary !== undefined) state.primary = primary;
    const sw = this.#switchovers.current(service, state, members);
    if (sw) {
      state.switchoverTo = sw.to;
      const to = members.find((m) => m.id === sw.to);
      const target = to?.routable && to.report?.healthy ? to.report.replicationOffset : undefined;
      if (target !== undefined) state.switchoverTargetOffset = target;
    }
    return state;
  }

  /** The state as operators read it: with `switchoverCaughtUp` (never in tables). */
  #forOperators(service: string, state: FailoverState): FailoverState {
    return withCaughtUp(state, state.holder && this.#o.roles.get(service, state.holder)?.replicationOffset);
  }

  /**
   * Why `instance` may not take the failover election of `service` now, or
   * undefined when it may: while a switchover runs only its target, and only
   * while it is a candidate (within `maxLagBytes`); else a candidate, or
   * anyone when there is none.
   */
  refusal(service: string, instance: string): string | undefined {
    const state = this.state(service);
    if (state === undefined) return undefined;
    if (state.switchoverTo !== undefined && state.switchoverTo !== instance)
      return `a switchover of service ${service} to ${state.switchoverTo} is in progress: only it may take the failover election`;
    if (state.candidates.includes(instance)) return undefined;
    // No candidate: anyone (better a lagging primary than none), but never a switchover's target that fell behind.
    if (state.candidates.length === 0 && state.switchoverTo === undefined) return undefined;
    const report = this.#o.roles.get(service, instance);
    const lag = lagOf(report, this.#last.get(service)?.offset);
    return (
      `instance ${instance} is not a failover candidate of service ${service} ` +
      `(its check: ${report ? `${report.healthy ? 'healthy' : 'unhealthy'} ${report.role ?? 'no role'}` : 'no report'}` +
      `${lag === undefined ? '' : `, ${lag} bytes behind the primary`}); the candidates now are ` +
      `${state.candidates.join(', ') || 'none'}: it may campaign once it is one (caught up within policy.failover.maxLagBytes, ` +
      'healthy, priority above 0)'
    );
  }

  /** Asks for a switchover of `service` to `to` (the admin API): checked, then published until done or timed out. */
  requestSwitchover(service: string, to: string, by: string): SwitchoverOutcome {
    const policy = this.#o.policyOf(service);
    const state = this.state(service);
    const members = this.#members(service);
    const problem = switchoverProblem(service, to, policy, state, members, this.#last.get(service)?.offset);
    if (problem) return problem;
    const s = state as FailoverState;
    const timeoutMs = (policy as ManagedFailoverPolicy).switchoverTimeoutMs;
    this.#switchovers.start(service, { to, from: s.primary, deadline: this.#o.clock() + timeoutMs, term: s.term });
    this.#o.events.add(
      failoverEvent(service, 'switchover-requested', s.primary, to, `switchover to ${to} requested by ${by}`, {
        term: s.term,
        by,
        timeoutMs,
        lastCheck: {
          old: lastCheck(members.find((m) => m.id === s.primary)?.report),
          new: lastCheck(this.#o.roles.get(service, to)),
        },
      }),
    );
    this.#o.onChange();
    return { ok: true, state: this.#forOperators(service, this.state(service) as FailoverState) };
  }

  /** The state with each instance's standing, for operators (`GET /v1/services/NAME/failover`); undefined: not managed. */
  describe(service: string): FailoverDescription | undefined {
    const policy = this.#o.policyOf(service);
    const state = this.state(service);
    if (policy === undefined || state === undefined) return undefined;
    const members = this.#members(service);
    const reference = referenceOffset(this.#last.get(service)?.offset, members);
    return describeFailover(service, policy, this.#forOperators(service, state), members, reference);
  }

  #members(service: string): FailoverMember[] {
    return this.#o.members(service).map((m) => ({ ...m, report: this.#o.roles.get(service, m.id) }));
  }

  /**
   * The candidates: while the election is vacant, a healthy instance whose
   * check already says primary comes first (it takes the term without a
   * promote: at bootstrap, or after its agent restarted) when it held the
   * last term (or no term is known yet) and is within `maxLagBytes` of the
   * reference offset (a former primary left behind, whose rejoin failed, is
   * no candidate: its term's writes are older than a caught-up standby's),
   * then the ranked standbys. The last holder is never compared with the
   * standbys' (maybe newer) reports; with no term known, a sitting primary
   * behind the best standby empties the candidates until it stayed behind
   * `leaseMs` (then it is dropped). Before any term is known here (term 0: a new service, or this
   * control plane just started), the standbys wait `leaseMs` from when the
   * service's first instance was seen: a sitting primary whose agent connected or
   * reported a moment later must not be replaced by a standby that did not
   * wait for it.
   */
  #candidates(
    service: string,
    members: FailoverMember[],
    election: ElectionView | undefined,
    offset: number | undefined,
    policy: ManagedFailoverPolicy,
    term: number,
    lastHolder: string | undefined,
  ): string[] {
    const now = this.#o.clock();
    if (!this.#firstSeen.has(service) && members.length > 0) this.#firstSeen.set(service, now);
    const standbys = rankCandidates(members, offset, policy.maxLagBytes, election?.holder);
    const ranked = standbys.map((c) => c.id);
    if (election) return ranked;
    const bootstrapping = term === 0 && now - (this.#firstSeen.get(service) ?? now) < policy.leaseMs;
    // A known last holder still saying primary is where its standbys stream from: never compared with their
    // (possibly newer) reports. Only with no holder known (term 0) is one behind the best standby dropped.
    const known = term === 0 ? undefined : lastHolder;
    let sitting = sittingPrimaries(members, known, offset, policy.maxLagBytes);
    if (known === undefined) {
      const best = standbys[0]?.offset;
      const ahead = sittingPrimaries(members, undefined, offset, policy.maxLagBytes, best);
      if (ahead.length < sitting.length) {
        // Behind: maybe only its report is older (one offset per check interval). Nobody campaigns until it
        // stayed behind for leaseMs without a break; then it is dropped (a stale former primary).
        const since = this.#behindSince.get(service) ?? now;
        this.#behindSince.set(service, since);
        if (now - since < policy.leaseMs) return [];
      } else this.#behindSince.delete(service);
      sitting = ahead;
    } else this.#behindSince.delete(service);
    return bootstrapping ? sitting : [...sitting, ...ranked];
  }
}
