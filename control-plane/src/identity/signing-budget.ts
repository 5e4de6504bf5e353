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
export const SIGNING_RATE = { perSecond: 50, burst: 100 } as const;

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
  readonly #clock: Clock;
  readonly #logged = new Map<string, { at: number; suppressed: number }>();

  constructor(clock: Clock, rate: { perSecond: number; burst: number } = SIGNING_RATE) {
    this.#clock = clock;
    this.#bucket = new ReportLimiter(rate, clock);
  }

  /** Takes a signature from the budget; false: over it. */
  tryTake(): boolean {
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
