import { backoffDelay, type Logger, type RandomSource, type WebhookConfig } from '@meshlet/shared';
import type { MeshEvent } from '../events/event-log.js';
import { webhookBody } from './webhook-payload.js';

/** Events waiting per webhook beyond the one in flight; past it the oldest are dropped. */
export const WEBHOOK_MAX_QUEUE = 1000;

/** When and how often a failed delivery is tried again. */
export interface WebhookRetryOptions {
  /** Attempts per event, the first included. */
  attempts: number;
  /** Ceiling of the first delay; doubled per attempt up to `maxMs`. */
  initialMs: number;
  maxMs: number;
}

/** 0.5 s, 1 s, 2 s, 4 s (each between half and all of that): about 7.5 s for the 5 attempts, less than a minute. */
export const DEFAULT_WEBHOOK_RETRY: WebhookRetryOptions = { attempts: 5, initialMs: 500, maxMs: 8000 };

/** Options of {@link WebhookSender}. */
export interface WebhookSenderOptions {
  /** The `webhooks` setting, validated (defaults filled in). */
  hooks: readonly WebhookConfig[];
  log: Logger;
  /** Milliseconds since the epoch; says in the log how old a dropped or undelivered event is. */
  clock?: () => number;
  /** The HTTP client (Node's global `fetch` by default). */
  fetch?: typeof fetch;
  /** Jitter of the retry delays. */
  random?: RandomSource;
  retry?: WebhookRetryOptions;
  maxQueue?: number;
}

/** Why an attempt failed, and whether another may succeed. */
interface Failure {
  retry: boolean;
  status?: number;
  error?: string;
  /** The receiver's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
}

/** A `Retry-After` longer than this is not honoured: the event would be stale, and the queue behind it long. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * One webhook's queue: events are delivered one at a time, in order, each
 * retried before the next goes, so a receiver sees a service's history in the
 * order it happened.
 */
class HookQueue {
  readonly #hook: WebhookConfig;
  readonly #kinds: ReadonlySet<string>;
  readonly #log: Logger;
  readonly #o: Required<Omit<WebhookSenderOptions, 'hooks' | 'log'>>;
  readonly #queue: MeshEvent[] = [];
  readonly #closing = new AbortController();
  #busy = false;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  readonly #idle = new Set<() => void>();

  constructor(hook: WebhookConfig, log: Logger, o: Required<Omit<WebhookSenderOptions, 'hooks' | 'log'>>) {
    this.#hook = hook;
    this.#kinds = new Set(hook.kinds);
    this.#log = log;
    this.#o = o;
  }

  /** Events waiting or in flight. */
  get pending(): number {
    return this.#queue.length + (this.#busy ? 1 : 0);
  }

  push(event: MeshEvent): void {
    if (this.#closing.signal.aborted || !this.#kinds.has(event.kind)) return;
    this.#queue.push(event);
    if (this.#queue.length > this.#o.maxQueue) {
      const oldest = this.#queue.shift() as MeshEvent;
      // A receiver that is down for long under a flapping mesh would log a
      // line per event: say it when dropping starts, then every 100.
      if (this.#dropped++ % 100 === 0) {
        this.#log.warn(
          { seq: oldest.seq, ageMs: this.#o.clock() - oldest.time, dropped: this.#dropped, queued: this.#queue.length },
          'webhook queue full; dropped its oldest event (is the receiver down or slow?)',
        );
      }
    }
    if (!this.#busy) void this.#pump();
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  close(): void {
    this.#closing.abort();
    this.#queue.length = 0;
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        await this.#deliver(event);
        if (this.#closing.signal.aborted) break;
      }
    } finally {
      this.#busy = false;
      for (const resolve of this.#idle) resolve();
      this.#idle.clear();
    }
  }

  async #deliver(event: MeshEvent): Promise<void> {
    const body = webhookBody(event, this.#hook.format);
    const { attempts, initialMs, maxMs } = this.#o.retry;
    for (let attempt = 0; ; attempt++) {
      const failure = await this.#post(body);
      if (failure === undefined || this.#closing.signal.aborted) return;
      const last = attempt + 1 >= attempts || !failure.retry;
      if (last) {
        this.#log.warn(
          {
            seq: event.seq,
            kind: event.kind,
            attempts: attempt + 1,
            status: failure.status,
            err: failure.error,
            ageMs: this.#o.clock() - event.time,
          },
          failure.retry
            ? 'webhook delivery failed; giving up on this event'
            : 'webhook refused the event; not retrying',
        );
        return;
      }
      // Equal jitter: between half and all of the doubled delay, so that
      // retries never come at once yet still spread.
      const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
      let delay = ceiling / 2 + backoffDelay(attempt, { initialMs: initialMs / 2, maxMs: maxMs / 2 }, this.#o.random);
      if (failure.retryAfterMs !== undefined)
        delay = Math.max(delay, Math.min(failure.retryAfterMs, MAX_RETRY_AFTER_MS));
      this.#log.debug(
        { seq: event.seq, attempt: attempt + 1, status: failure.status, err: failure.error, delayMs: delay },
        'webhook delivery failed; retrying',
      );
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, delay);
      });
      this.#wake = undefined;
      if (this.#closing.signal.aborted) return;
    }
  }

  /** One POST; undefined when the receiver took it (2xx). */
  async #post(body: string): Promise<Failure | undefined> {
    let res: Response;
    try {
      res = await this.#o.fetch(this.#hook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'meshlet-control-plane', ...this.#hook.headers },
        body,
        // A POST redirected becomes a GET; the operator should configure the final URL instead.
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.#hook.timeoutMs), this.#closing.signal]),
      });
    } catch (e) {
      const err = e as Error;
      const error = err.name === 'TimeoutError' ? `no answer within ${this.#hook.timeoutMs} ms` : describe(err);
      return { retry: true, error };
    }
    // Read the body to its end so the connection goes back to the pool.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return undefined;
    const retry = res.status === 429 || res.status >= 500;
    const retryAfter = Number(res.headers.get('retry-after'));
    return {
      retry,
      status: res.status,
      ...(res.status >= 300 && res.status < 400 ? { error: 'redirected; configure the URL it points to' } : {}),
      ...(retry && Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
    };
  }
}

/** fetch's own message is "fetch failed"; the reason is in its cause. */
function describe(err: Error): string {
  const cause = err.cause as { code?: string; message?: string } | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}

/**
 * Sends the control plane's decisions (health, failover, drain events) to
 * the configured webhooks. {@link send} never blocks and never throws: each
 * webhook has its own bounded queue and delivers in the background, so a slow
 * or dead receiver delays neither the control plane nor the other webhooks.
 * A network error, a timeout, 429 or 5xx is retried with exponential backoff
 * and jitter; another answer is final. Logs name a webhook by its index and
 * origin only: a header may hold a credential and a URL's path may be one
 * (Slack's webhooks are).
 */
export class WebhookSender {
  readonly #queues: HookQueue[];

  constructor(options: WebhookSenderOptions) {
    const o = {
      clock: options.clock ?? Date.now,
      fetch: options.fetch ?? globalThis.fetch,
      random: options.random ?? Math.random,
      retry: options.retry ?? DEFAULT_WEBHOOK_RETRY,
      maxQueue: options.maxQueue ?? WEBHOOK_MAX_QUEUE,
    };
    this.#queues = options.hooks.map(
      (hook, i) =>
        new HookQueue(
          hook,
          options.log.child({ component: 'webhook', webhook: i, target: new URL(hook.url).origin }),
          o,
        ),
    );
  }

  /** Queues `event` for every webhook that wants its kind. */
  send(event: MeshEvent): void {
    for (const q of this.#queues) q.push(event);
  }

  /** Events waiting or in flight, over all webhooks. */
  get pending(): number {
    return this.#queues.reduce((n, q) => n + q.pending, 0);
  }

  /** Resolves when every webhook has delivered (or given up on) everything sent so far. */
  async idle(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.idle()));
  }

  /** Drops what is queued, aborts what is in flight and stops the retry timers. */
  close(): void {
    for (const q of this.#queues) q.close();
  }
}
