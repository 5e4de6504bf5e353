import type { Clock } from '@meshlet/shared';
import { ReportLimiter } from '../stream/report-limiter.js';

/**
 * How fast one control plane signs across all its streams: 50 requests a
 * second, bursts of 100. A stream may ask once a second; a thousand agents
 * reconnecting at once (a restart with a new CA) would otherwise make the
 * control plane sign nothing else for a while. Agents refused retry with
 * backoff. A constant, not a setting: renewals of 24 h certificates need
 * well under one a second even for 10,000 agents.
 */
export const SIGNING_RATE = { perSecond: 50, burst: 100, perServicePerSecond: 25, perServiceBurst: 50 } as const;

/** Most services whose share of the budget is followed; the one asked of least recently is forgotten past it. */
const MAX_SERVICES = 10_000;

/** A refusal for one agent is logged at most once in this long; the rest are counted into the next line. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Most agents whose last refusal log is remembered; the oldest is forgotten past it. */
const MAX_REMEMBERED = 10_000;

/**
 * The control plane's signing budget, shared by every stream: a token
 * bucket for signatures and a throttle on refusal logs (one line per agent
 * per {@link REFUSAL_LOG_INTERVAL_MS}, with how many were suppressed), so a
 * misbehaving agent can neither make the control plane sign in a loop nor
 * flood its log.
 */
export class SigningBudget {
  readonly #bucket: ReportLimiter;
  readonly #services = new Map<string, ReportLimiter>();
  readonly #rate: typeof SIGNING_RATE;
  readonly #clock: Clock;
  readonly #logged = new Map<string, { at: number; suppressed: number }>();

  constructor(clock: Clock, rate: typeof SIGNING_RATE = SIGNING_RATE) {
    this.#clock = clock;
    this.#rate = rate;
    this.#bucket = new ReportLimiter(rate, clock);
  }

  /**
   * Takes a signature for `service` from the budget; false: over it. One
   * service (the holders of one stolen credential, say) gets at most half of
   * the control plane's rate, so the others still renew.
   */
  tryTake(service: string): boolean {
    let own = this.#services.get(service);
    if (own === undefined) {
      own = new ReportLimiter(
        { perSecond: this.#rate.perServicePerSecond, burst: this.#rate.perServiceBurst },
        this.#clock,
      );
      if (this.#services.size >= MAX_SERVICES) {
        const oldest = this.#services.keys().next().value;
        if (oldest !== undefined) this.#services.delete(oldest);
      }
    } else {
      this.#services.delete(service);
    }
    this.#services.set(service, own);
    if (!own.tryTake()) return false;
    return this.#bucket.tryTake();
  }

  /**
   * Whether a refusal for `agentId` is logged now: the count of refusals
   * not logged since the last line, or undefined to count this one and stay quiet.
   */
  logRefusal(agentId: string): { suppressed: number } | undefined {
    const now = this.#clock();
    const last = this.#logged.get(agentId);
    if (last !== undefined && now - last.at < REFUSAL_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return undefined;
    }
    this.#logged.delete(agentId);
    if (this.#logged.size >= MAX_REMEMBERED) {
      const oldest = this.#logged.keys().next().value;
      if (oldest !== undefined) this.#logged.delete(oldest);
    }
    this.#logged.set(agentId, { at: now, suppressed: 0 });
    return { suppressed: last?.suppressed ?? 0 };
  }
}

const budgets = new WeakMap<object, SigningBudget>();

/** The budget of the control plane that `owner` (its metrics, one set per control plane) belongs to. */
export function signingBudgetOf(owner: object, clock: Clock): SigningBudget {
  let budget = budgets.get(owner);
  if (budget === undefined) {
    budget = new SigningBudget(clock);
    budgets.set(owner, budget);
  }
  return budget;
}
