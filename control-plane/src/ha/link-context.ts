import type { Clock, Logger } from '@meshlet/shared';
import type { Etcd3 } from 'etcd3';
import { within } from '../store/within.js';

/** How long to wait before trying again after etcd refused a lease, a campaign or a watch. */
const RETRY_MS = 1_000;

/** Where the replica link keeps what it shares, under the store's key prefix. */
export interface LiveKeys {
  /** `<prefix>live/`: everything the watch follows. */
  live: string;
  /** `live/agents/<agentId>`: registrations. */
  agents: string;
  /** `live/signals/<replicaId>`: signal batches. */
  signals: string;
  /** The leader's routing table. */
  table: string;
  /** The leader's latest decisions. */
  events: string;
  /** Where etcd3's election keeps its campaign keys (`Election.prefix` is "election"). */
  election: string;
}

/** The keys of {@link LiveKeys} under `prefix`. */
export function liveKeys(prefix: string): LiveKeys {
  const live = `${prefix}live/`;
  return {
    live,
    agents: `${live}agents/`,
    signals: `${live}signals/`,
    table: `${live}table`,
    events: `${live}events`,
    election: `${prefix}election/leader/`,
  };
}

/** Options of {@link LinkContext}. */
export interface LinkContextOptions {
  client: Etcd3;
  prefix: string;
  replicaId: string;
  requestTimeoutMs: number;
  log: Logger;
  clock: Clock;
}

/**
 * What every part of the replica link shares: the etcd client and its
 * request deadline, the keys, the clock, the log, and the timers of
 * "try again in a second", which all stop when the link closes.
 */
export class LinkContext {
  readonly client: Etcd3;
  /** The store's key prefix. */
  readonly prefix: string;
  readonly replicaId: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly keys: LiveKeys;
  readonly #requestTimeoutMs: number;
  readonly #retry = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: LinkContextOptions) {
    this.client = options.client;
    this.prefix = options.prefix;
    this.replicaId = options.replicaId;
    this.log = options.log;
    this.clock = options.clock;
    this.keys = liveKeys(options.prefix);
    this.#requestTimeoutMs = options.requestTimeoutMs;
  }

  /** Whether the link has closed: nothing new starts then. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Races a request against the request timeout (etcd3 retries on other members, which can take long). */
  bounded<T>(p: Promise<T>): Promise<T> {
    return within(p, this.#requestTimeoutMs, `no answer from etcd within ${this.#requestTimeoutMs} ms`);
  }

  /** Runs `fn` after a pause, unless the link closes first. */
  later(fn: () => void): void {
    if (this.#closed) return;
    const t = setTimeout(() => {
      this.#retry.delete(t);
      if (!this.#closed) fn();
    }, RETRY_MS);
    this.#retry.add(t);
  }

  /** Marks the link closed and drops the pending retries. */
  close(): void {
    this.#closed = true;
    for (const t of this.#retry) clearTimeout(t);
  }
}
