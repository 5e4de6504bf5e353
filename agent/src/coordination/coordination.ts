import type { Coord, CoordEvent, CoordResult, Logger } from '@meshlet/shared';
import { CoordClient, type CoordClientOptions } from './coord-client.js';
import { CoordFeed } from './coord-feed.js';
import { LeaseService } from './lease-service.js';
import { OpenRequests } from './open-requests.js';

/** Options of {@link Coordination}. */
export interface CoordinationOptions {
  /** Sends a `coord` on the control-plane stream; false when none is open. */
  send: (message: Coord) => boolean;
  clock: () => number;
  log: Logger;
  /** How long to wait for the control plane's answer (default 5 s). */
  timeoutMs?: number;
  /** How many requests may stay open at once (default 192). */
  maxOpenRequests?: number;
  /** Told how each request to the control plane ended (see {@link CoordClientOptions.onOutcome}). */
  onOutcome?: CoordClientOptions['onOutcome'];
}

/**
 * The agent's coordination for its app, assembled: the client over the
 * control-plane stream, the feed of changes and held leases, the lease
 * operations the admin routes call, and the limit on open requests. The
 * agent feeds it the stream's messages ({@link onMessage}) and its opening
 * and drops ({@link connectionChanged}).
 */
export class Coordination {
  readonly client: CoordClient;
  readonly feed: CoordFeed;
  readonly leases: LeaseService;
  readonly openRequests: OpenRequests;

  constructor(o: CoordinationOptions) {
    this.client = new CoordClient({
      send: o.send,
      clock: o.clock,
      log: o.log,
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.onOutcome === undefined ? {} : { onOutcome: o.onOutcome }),
    });
    this.feed = new CoordFeed(this.client, o.clock, o.log);
    this.leases = new LeaseService(this.client, this.feed, o.clock, o.log);
    this.openRequests = new OpenRequests(o.maxOpenRequests);
  }

  /** A `coordResult` or `coordEvent` from the stream. */
  onMessage(message: CoordResult | CoordEvent): void {
    this.client.onMessage(message);
  }

  /** The stream opened (true) or dropped (false). */
  connectionChanged(connected: boolean): void {
    this.client.connectionChanged(connected);
  }

  readonly #closeListeners = new Set<() => void>();

  /** Calls `listener` once when the agent stops (an events stream ends then); returns a function that stops it. */
  onClose(listener: () => void): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /**
   * The agent is stopping: fails what is in flight (waits and long-polls end
   * with 503), ends the events streams, forgets held leases.
   */
  close(): void {
    this.client.close();
    this.feed.held.close();
    for (const l of [...this.#closeListeners]) l();
    this.#closeListeners.clear();
  }
}
