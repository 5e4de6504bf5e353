import { AgentErrorCodes } from '../errors.js';
import { type FencedRequest, type FenceVerdict, OPEN_FENCE, type PrimaryFence } from './primary-fence.js';

/**
 * The agent's {@link PrimaryFence} from its start: the inbound TCP path is
 * built before the failover manager (which needs the health monitor), so it
 * gets this, and the manager is attached once it runs. Until then an agent
 * with `instance.failover` admits no `role: primary` caller (it holds no
 * term yet); one without is open, as {@link OPEN_FENCE}.
 */
export class DeferredFence implements PrimaryFence {
  readonly #managed: boolean;
  #target: PrimaryFence | undefined;
  readonly #listeners = new Set<() => void>();

  /** `managed`: the agent has `instance.failover`. */
  constructor(managed: boolean) {
    this.#managed = managed;
  }

  /** The failover manager is running: it decides from now on, and its fences reach every listener. */
  attach(target: PrimaryFence): void {
    this.#target = target;
    target.onFence(() => {
      for (const l of [...this.#listeners]) l();
    });
  }

  admit(request: FencedRequest): FenceVerdict {
    if (this.#target !== undefined) return this.#target.admit(request);
    if (!this.#managed || request.role !== 'primary') return OPEN_FENCE.admit(request);
    return {
      ok: false,
      code: AgentErrorCodes.PRIMARY_FENCED,
      message: `this agent's managed failover is not running yet: it holds no term (asked for term ${request.term ?? '(none)'})`,
    };
  }

  onFence(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
