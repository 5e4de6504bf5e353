import type { FailoverState, InstanceFailoverConfig, Logger, ManagedFailoverPolicy } from '@meshlet/shared';
import { FAILOVER_ELECTION } from '@meshlet/shared';
import type { CoordClient } from '../coordination/coord-client.js';
import { AgentErrorCodes } from '../errors.js';
import type { LocalHealth } from '../health/local-health.js';
import { CommandQueue } from './command-queue.js';
import { FailoverLease } from './failover-lease.js';
import type { FencedRequest, FenceVerdict, PrimaryFence } from './primary-fence.js';
import type { CommandRunner } from './run-command.js';

/** Options of {@link FailoverManager}. */
export interface FailoverManagerOptions {
  service: string;
  instance: string;
  config: InstanceFailoverConfig;
  client: CoordClient;
  health: LocalHealth;
  /** The own service's managed failover policy and state from the table in force (absent: not managed). */
  table: () => { policy?: ManagedFailoverPolicy | undefined; state?: FailoverState | undefined };
  run: CommandRunner;
  clock: () => number;
  log: Logger;
}

/** Where this instance stands in its service's failover. */
export type FailoverPhase = 'standby' | 'campaigning' | 'promoting' | 'primary' | 'stepping-down' | 'rejoining';

/** A switchover away from this primary in progress. */
interface HandOver {
  to: string;
  deadline: number;
  fenced: boolean;
  /** The own offset probed after the fence. */
  fencedOffset?: number | undefined;
}

/** How long to wait between probes while waiting for the check to say primary after a promote. */
const PROBE_GAP_MS = 100;

/**
 * The agent's part of managed failover (docs/databases.md), for an agent with
 * `instance.failover` whose service's policy is managed. While the election
 * is vacant, the n-th candidate of the table campaigns after n ×
 * `candidateStaggerMs` (during a switchover only its target, at once). The
 * winner runs `promote` (skipped when its check says primary already and
 * no demote ran since its last promote),
 * probes until the check says primary (by `promote.timeoutMs`, else it
 * resigns), and is the primary. The holder fences, demotes and resigns when
 * its check fails; fences at a doubt and fences and demotes at a lost term; in
 * a switchover it fences once the target is a candidate, then demotes and
 * resigns once the target caught up. A former primary that sees a newer term
 * runs `rejoin`. It is also the callee side's {@link PrimaryFence}.
 */
export class FailoverManager implements PrimaryFence {
  readonly #o: FailoverManagerOptions;
  readonly #lease: FailoverLease;
  readonly #fenceListeners = new Set<() => void>();
  #phase: FailoverPhase = 'standby';
  /** The last term this instance held, until it rejoins under a newer one. */
  #ownTerm: number | undefined;
  #rejoinedFor: number | undefined;
  /** A demote ran since the last promote: the next term needs a promote even if the check says primary (a demote may only block writes). */
  #demoted = false;
  #campaignTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  /** A switchover away from this primary: fenced once the target is a candidate; `fencedOffset` probed after the fence. */
  #switchover: HandOver | undefined;
  /** Vacancy as the last election event said it, and in which order it came (the later of it and the table decides). */
  #event: { free: boolean; seq: number } | undefined;
  #tableSeq = 0;
  #seq = 0;
  /** No campaign before this (after a failed promote or a step-down: the other candidates go first). */
  #holdOffUntil = 0;
  #stopped = false;
  /** Promote, demote and rejoin, one at a time in the order asked. */
  readonly #commands: CommandQueue;
  readonly #stops: (() => void)[] = [];

  constructor(options: FailoverManagerOptions) {
    this.#o = options;
    this.#commands = new CommandQueue(options.run);
    this.#lease = new FailoverLease({
      client: options.client,
      clock: options.clock,
      log: options.log,
      onDoubt: () => this.#fence('the term is in doubt'),
      onRestored: () => this.evaluate(),
      onLost: (token, reason) => void this.#lost(token, reason),
    });
  }

  /** Where this instance stands, and the term it holds. */
  get status(): { phase: FailoverPhase; term: number | undefined; inDoubt: boolean } {
    return { phase: this.#phase, term: this.#lease.token, inDoubt: this.#lease.inDoubt };
  }

  /** Starts following the election, the check and the table. */
  start(): void {
    this.#stops.push(
      this.#o.client.watch('election', FAILOVER_ELECTION),
      this.#o.client.onEvent((e) => {
        if (e.state.kind !== 'election' || e.state.name !== FAILOVER_ELECTION) return;
        this.#event = { free: e.state.holder === undefined, seq: ++this.#seq };
        this.evaluate();
      }),
      this.#o.health.onChange(() => this.evaluate()),
    );
    this.evaluate();
  }

  /** A new table is in force. */
  onTable(): void {
    this.#tableSeq = ++this.#seq;
    this.evaluate();
  }

  stop(): void {
    this.#stopped = true;
    this.#commands.stop();
    clearTimeout(this.#campaignTimer);
    clearTimeout(this.#wakeTimer);
    for (const stop of this.#stops) stop();
    this.#lease.close();
  }

  admit(request: FencedRequest): FenceVerdict {
    if (request.role === 'replica') return { ok: true };
    const term = this.#lease.token;
    const h = this.#o.health.current();
    if (request.role === undefined) {
      // Role-less: a healthy replica (or an unmanaged service) serves it; anything else (primary, unhealthy with its
      // role cleared while it may still take writes, no probe yet) only while it holds the term, as role primary.
      if ((h.role === 'replica' && h.status === 'healthy') || this.#o.table().policy === undefined) return { ok: true };
      request = { ...request, term };
    }
    const refuse = (why: string): FenceVerdict => ({
      ok: false,
      code: AgentErrorCodes.PRIMARY_FENCED,
      message: `instance ${this.#o.instance} of ${this.#o.service} is not the primary of term ${request.term ?? '(none named)'}: ${why}`,
    });
    if (this.#phase !== 'primary' || term === undefined) return refuse(`it is ${this.#phase}`);
    if (request.term !== term) return refuse(`it holds term ${term}`);
    if (this.#lease.inDoubt) return refuse('its term is in doubt (no answer from the control plane)');
    if (this.#switchover?.fenced) return refuse(`it is handing over to ${this.#switchover.to}`);
    if (h.role !== 'primary' || h.status === 'unhealthy') return refuse(`its check says ${h.status} ${h.role ?? ''}`);
    return { ok: true };
  }

  onFence(listener: () => void): () => void {
    this.#fenceListeners.add(listener);
    return () => this.#fenceListeners.delete(listener);
  }

  /** Decides what to do now; called on every change of the table, the check, the election and on timers. */
  evaluate(): void {
    if (this.#stopped) return;
    const { policy, state } = this.#o.table();
    if (policy === undefined || state === undefined) return this.#cancelCampaign();
    const health = this.#o.health.current();
    if (this.#phase === 'primary') {
      if (health.status === 'unhealthy') return void this.#stepDown('its check failed past unhealthyThreshold');
      // Its database came back as a standby (restarted, or demoted by hand): no primary to demote, but the term must go.
      const term = this.#lease.token;
      if (health.role === 'replica' && term !== undefined) {
        this.#phase = 'stepping-down';
        this.#switchover = undefined;
        return void this.#resign(term, 'its check says replica');
      }
      return this.#followSwitchover(policy, state);
    }
    if (this.#phase !== 'standby') return;
    const self = this.#o.instance;
    const other = state.holder !== undefined && state.holder !== self ? state.holder : undefined;
    const former = this.#ownTerm !== undefined ? state.term > this.#ownTerm : health.role === 'primary';
    if (other !== undefined && former && this.#rejoinedFor !== state.term) return void this.#rejoin(state, other);
    const vacant = this.#event && this.#event.seq > this.#tableSeq ? this.#event.free : state.holder === undefined;
    const rank =
      state.switchoverTo !== undefined
        ? state.switchoverTo === self && state.candidates.includes(self)
          ? 0
          : -1
        : state.candidates.indexOf(self);
    if (!vacant || rank < 0 || health.status === 'unhealthy') return this.#cancelCampaign();
    if (this.#campaignTimer !== undefined) return;
    const wait = this.#holdOffUntil - this.#o.clock();
    if (wait > 0) return this.#wakeIn(wait);
    this.#campaignTimer = setTimeout(() => void this.#campaign(policy), rank * policy.candidateStaggerMs);
    this.#campaignTimer.unref();
  }

  #cancelCampaign(): void {
    clearTimeout(this.#campaignTimer);
    this.#campaignTimer = undefined;
  }

  /** Evaluates again after `ms` (a retry after a refused campaign, a switchover's deadline). */
  #wakeIn(ms: number): void {
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => this.evaluate(), ms);
    this.#wakeTimer.unref();
  }

  async #campaign(policy: ManagedFailoverPolicy): Promise<void> {
    this.#campaignTimer = undefined;
    if (this.#stopped || this.#phase !== 'standby') return;
    this.#phase = 'campaigning';
    const out = await this.#lease.campaign(policy.leaseMs, this.#o.instance);
    if (this.#stopped) return;
    if (!out.ok) {
      this.#phase = 'standby';
      this.#o.log.debug({ code: out.code, message: out.message }, 'failover: campaign not won');
      return this.#wakeIn(Math.max(policy.candidateStaggerMs, Math.floor(policy.leaseMs / 3)));
    }
    await this.#promote(out.token);
  }

  async #promote(term: number): Promise<void> {
    const { log, health, config, clock } = this.#o;
    this.#phase = 'promoting';
    this.#ownTerm = term;
    log.info({ term }, 'failover: won the election; promoting');
    const before = health.current();
    if (this.#demoted || before.role !== 'primary' || before.status === 'unhealthy') {
      const out = await this.#commands.run('promote', config.promote, this.#env(term, this.#o.instance));
      if (this.#lease.token !== term) return;
      if (!out.ok) return void this.#resign(term, `its promote failed (${out.detail})`);
      this.#demoted = false;
    }
    const deadline = clock() + config.promote.timeoutMs;
    for (;;) {
      const s = await health.probeNow();
      if (this.#lease.token !== term || this.#stopped) return;
      if (s.role === 'primary' && s.status !== 'unhealthy') break;
      if (clock() >= deadline)
        return void this.#resign(
          term,
          `its check did not say primary within promote.timeoutMs (${s.status} ${s.role ?? ''})`,
        );
      await new Promise((r) => setTimeout(r, PROBE_GAP_MS));
    }
    this.#phase = 'primary';
    log.info({ term }, 'failover: the check says primary; this instance is the primary');
    this.evaluate();
  }

  /**
   * A switchover to another instance while this one is the primary: fence
   * once it is a candidate, then probe its own offset (taken after the fence:
   * every acknowledged write is in it) and hand over once the target's
   * published offset reached that one.
   */
  #followSwitchover(policy: ManagedFailoverPolicy, state: FailoverState): void {
    const to = state.switchoverTo;
    const sw = this.#switchover;
    if (to === undefined || to === this.#o.instance || (sw && sw.to !== to)) {
      if (sw) this.#o.log.info({ to: sw.to }, 'failover: the switchover ended; this instance stays the primary');
      this.#switchover = undefined;
      if (to === undefined || to === this.#o.instance) return;
    }
    const now = this.#o.clock();
    const current = (this.#switchover ??= { to, deadline: now + policy.switchoverTimeoutMs, fenced: false });
    if (now >= current.deadline) {
      this.#o.log.warn({ to }, 'failover: the switchover target did not catch up in time; staying the primary');
      this.#switchover = undefined;
      return;
    }
    this.#wakeIn(current.deadline - now);
    if (!current.fenced && state.candidates.includes(to)) {
      current.fenced = true;
      this.#fence(`handing over to ${to}`);
      void this.#probeFenced(current);
    }
    const target = state.switchoverTargetOffset;
    if (current.fencedOffset !== undefined && target !== undefined && target >= current.fencedOffset)
      void this.#stepDown(`switchover to ${to}`);
  }

  /**
   * The own offset after the switchover's fence, from a probe that passed (a
   * failed one keeps the pre-fence offset): probed again until one passes or
   * the switchover ends. No offset from the check: the switchover cannot complete.
   */
  async #probeFenced(current: HandOver): Promise<void> {
    for (;;) {
      const s = await this.#o.health.probeNow();
      if (this.#switchover !== current || this.#stopped) return;
      if (s.lastProbeOk === false || s.role !== 'primary') {
        await new Promise((r) => setTimeout(r, PROBE_GAP_MS));
        continue;
      }
      if (s.replicationOffset === undefined)
        return this.#o.log.warn(
          { to: current.to },
          'failover: the check reports no offset; the switchover cannot complete',
        );
      current.fencedOffset = s.replicationOffset;
      return this.evaluate();
    }
  }

  /** Fences, demotes and resigns: this instance stops being the primary while its term is still held. */
  async #stepDown(why: string): Promise<void> {
    const term = this.#lease.token;
    if (term === undefined) return;
    this.#phase = 'stepping-down';
    this.#switchover = undefined;
    this.#fence(why);
    this.#o.log.warn({ term, why }, 'failover: stepping down');
    await this.#demote(term);
    await this.#resign(term, why);
  }

  async #resign(term: number, why: string): Promise<void> {
    this.#o.log.warn({ term, why }, 'failover: resigning the term');
    this.#holdOff();
    this.#fence(why);
    await this.#lease.resign(term);
    if (this.#lease.token !== undefined) return; // a newer term is held now: not this resign's to end
    // Only the step-down (or failed promote) it ends: never a phase a later event moved to.
    if (this.#phase !== 'stepping-down' && this.#phase !== 'promoting') return;
    this.#phase = 'standby';
    this.evaluate();
  }

  /** No campaign for a while (after a failed promote, a step-down or a lost term): the others first; the next candidate campaigns after its stagger, well within this. */
  #holdOff(): void {
    const { policy, state } = this.#o.table();
    if (policy)
      this.#holdOffUntil =
        this.#o.clock() + policy.leaseMs + (state?.candidates.length ?? 1) * policy.candidateStaggerMs;
  }

  /**
   * The term went without this agent giving it up: fence at once, then demote
   * (the app may still take writes). During a step-down, its own demote and
   * resign end it (standby only once its demote ended).
   */
  async #lost(term: number, reason: string): Promise<void> {
    const was = this.#phase;
    this.#o.log.warn({ term, reason, phase: was }, 'failover: the term is lost');
    this.#fence(`the term is lost (${reason})`);
    if (was === 'stepping-down') return this.#holdOff();
    this.#phase = 'stepping-down';
    const demoted = (was === 'primary' || was === 'promoting') && (await this.#demote(term));
    // Held off only when it gave up being the primary (a promote cut short, a demote ran): a sitting
    // primary with no demote configured is still the primary, listed first, and takes its term back.
    if (was === 'promoting' || demoted) this.#holdOff();
    this.#phase = 'standby';
    this.evaluate();
  }

  /** Runs `demote` when configured; true when it ran. */
  async #demote(term: number): Promise<boolean> {
    const demote = this.#o.config.demote;
    if (demote === undefined) return false;
    this.#demoted = true;
    const out = await this.#commands.run('demote', demote, this.#env(term, ''));
    if (!out.ok) this.#o.log.error({ term, detail: out.detail }, 'failover: demote failed');
    return true;
  }

  async #rejoin(state: FailoverState, primary: string): Promise<void> {
    this.#rejoinedFor = state.term;
    this.#ownTerm = undefined;
    const rejoin = this.#o.config.rejoin;
    this.#o.log.warn({ term: state.term, primary }, 'failover: a newer term has another primary; rejoining');
    if (rejoin !== undefined) {
      this.#phase = 'rejoining';
      const out = await this.#commands.run('rejoin', rejoin, this.#env(state.term, primary));
      if (!out.ok) this.#o.log.error({ term: state.term, detail: out.detail }, 'failover: rejoin failed');
      this.#phase = 'standby';
    }
    this.evaluate();
  }

  #fence(why: string): void {
    this.#o.log.info({ why }, 'failover: fencing primary connections');
    for (const l of [...this.#fenceListeners]) l();
  }

  #env(term: number, primary: string): Record<string, string> {
    return {
      MESHLET_SERVICE: this.#o.service,
      MESHLET_INSTANCE: this.#o.instance,
      MESHLET_TERM: String(term),
      MESHLET_PRIMARY: primary,
    };
  }
}
