import { isServiceName, type Logger } from '@meshlet/shared';
import { systemTimers, type TimerHandle, type Timers } from '../resilience/timers.js';
import type { RouteTable } from '../route/route-table.js';

/** Most services an agent learns from requests; a request for one more gets the 404 without subscribing. */
export const MAX_LEARNED_SERVICES = 1000;

/** Most names a hello carries (the `Hello` schema's limit). */
const MAX_HELLO_UPSTREAMS = 10_000;

/** What a held request waits on: it goes away when its client does. */
export interface WaitingClient {
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
}

/** How a wait ended: a table has the service or the time is up (`route`: route it now), or the client left (`gone`). */
export type WaitResult = 'route' | 'gone';

/** Options of {@link Subscriptions}. */
export interface SubscriptionsOptions {
  /** The services of `upstreams` in the agent config. */
  declared: readonly string[];
  /** How long requests for a newly subscribed service wait for a table that has it (`controlPlane.subscribeWaitMs`). */
  waitMs: number;
  /** Sends `{type: 'subscribe', services}`; when not connected, the next hello carries the names instead. */
  subscribe: (services: string[]) => void;
  log: Logger;
  timers?: Timers;
  /** Default {@link MAX_LEARNED_SERVICES}. */
  maxLearned?: number;
}

/** One newly subscribed service's wait, shared by every request for it. */
interface PendingWait {
  timer: TimerHandle;
  /** Called when the wait ends; a request whose client leaves removes its own. */
  readonly waiters: Set<() => void>;
}

/**
 * The services this agent calls, and so asks the control plane for: those
 * declared in its config, and those learned from requests (as Envoy's
 * on-demand CDS learns a cluster from the first request that names it).
 *
 * The first request for a service that is neither in the table nor
 * subscribed subscribes to it and is held until a table that has it is
 * installed, or `waitMs` passes; the requests for the same name that come
 * meanwhile share that one wait. A later request for a subscribed name that
 * is still missing is not held: the control plane has been asked and does
 * not know it, so the caller hears so at once.
 */
export class Subscriptions {
  readonly #o: SubscriptionsOptions;
  readonly #timers: Timers;
  readonly #maxLearned: number;
  readonly #declared: ReadonlySet<string>;
  readonly #learned = new Set<string>();
  readonly #waits = new Map<string, PendingWait>();
  #capLogged = false;

  constructor(options: SubscriptionsOptions) {
    this.#o = options;
    this.#timers = options.timers ?? systemTimers;
    this.#maxLearned = options.maxLearned ?? MAX_LEARNED_SERVICES;
    this.#declared = new Set(options.declared);
  }

  /** Whether the agent has asked for `name`, declared or learned. */
  isSubscribed(name: string): boolean {
    return this.#declared.has(name) || this.#learned.has(name);
  }

  /** Declared and learned names, sorted (for `/config`). */
  describe(): { declared: string[]; learned: string[] } {
    return { declared: [...this.#declared].sort(), learned: [...this.#learned].sort() };
  }

  /**
   * The hello's `upstreams`: declared and learned names, sorted. A control
   * plane that restarted thus learns again everything this agent calls. The
   * services of the table held are not added: a table persisted by an older
   * agent, or services that came only through a route split, would otherwise
   * become subscriptions for good. After an agent restart the learned names
   * are learned again on their first request.
   */
  helloUpstreams(): string[] {
    const all = new Set([...this.#declared, ...this.#learned]);
    return [...all].sort().slice(0, MAX_HELLO_UPSTREAMS);
  }

  /**
   * Called for a request naming `name`, a service not in the table in force.
   * Returns `undefined` when the request is not to wait (answer it now: an
   * invalid name, a name already subscribed, the learned cap reached, or no
   * wait configured); else a promise of how the wait ended. Subscribes when
   * `name` is new.
   */
  wait(name: string, client: WaitingClient): Promise<WaitResult> | undefined {
    let pending = this.#waits.get(name);
    if (pending === undefined) {
      if (!isServiceName(name) || this.isSubscribed(name)) return undefined;
      if (this.#learned.size >= this.#maxLearned) {
        if (!this.#capLogged) {
          this.#capLogged = true;
          this.#o.log.warn(
            { max: this.#maxLearned, service: name },
            'learned the most services allowed from requests; requests for further unknown services get 404 without subscribing (declare them in upstreams)',
          );
        }
        return undefined;
      }
      this.#learned.add(name);
      this.#o.log.info({ service: name }, 'subscribing to a service learned from a request');
      this.#o.subscribe([name]);
      if (this.#o.waitMs <= 0) return undefined;
      const created: PendingWait = { timer: undefined, waiters: new Set() };
      created.timer = this.#timers.setTimeout(() => this.#end(name, created), this.#o.waitMs);
      this.#waits.set(name, created);
      pending = created;
    }
    return join(pending, client);
  }

  /** A table was installed: ends the waits of the services it has. */
  onTable(table: RouteTable): void {
    for (const [name, w] of this.#waits) if (table.service(name) !== undefined) this.#end(name, w);
  }

  /** Number of newly subscribed services whose wait is still on. */
  get waiting(): number {
    return this.#waits.size;
  }

  /** Number of requests held, across all waits. */
  get held(): number {
    let n = 0;
    for (const w of this.#waits.values()) n += w.waiters.size;
    return n;
  }

  /** Ends every wait (the held requests then get their answer) and stops the timers. */
  close(): void {
    for (const [name, w] of this.#waits) this.#end(name, w);
  }

  #end(name: string, w: PendingWait): void {
    if (this.#waits.get(name) !== w) return;
    this.#waits.delete(name);
    this.#timers.clearTimeout(w.timer);
    for (const done of w.waiters) done();
    w.waiters.clear();
  }
}

/** One request joins a wait; leaving (client gone) takes its listener off both the client and the wait. */
function join(w: PendingWait, client: WaitingClient): Promise<WaitResult> {
  if (client.destroyed) return Promise.resolve('gone');
  return new Promise((resolve) => {
    const done = (): void => {
      client.off('close', gone);
      resolve('route');
    };
    const gone = (): void => {
      w.waiters.delete(done);
      resolve('gone');
    };
    w.waiters.add(done);
    client.once('close', gone);
  });
}
