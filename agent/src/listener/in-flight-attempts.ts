import { ENDPOINT_LOST_CODE } from '../resilience/failure-kind.js';

/** An attempt that can be given up while it waits for its answer's headers (see {@link InFlightAttempts}). */
export interface AbandonableAttempt {
  /** Ends the attempt with `err` if it is connected, no answer has begun and a retry can be made; false otherwise. */
  abandon(err: Error): boolean;
}

/**
 * The attempts in flight to each endpoint that may be sent again elsewhere
 * (an idempotent method, body buffered, a retry, its budget and another
 * endpoint left). When the mesh learns that an
 * endpoint is gone (the control plane marked it unhealthy, or this caller's
 * outlier detection ejected it), the ones still waiting for an answer are
 * given up at once and retried on another endpoint, rather than waiting out
 * the request timeout on a connection that may be dead: a host cut off by a
 * partition answers nothing, and its keep-alive connections stay open for
 * minutes. Envoy closes connections on a health-check failure for the same
 * reason (`close_connections_on_host_health_failure`); this gives up only
 * what is safe to resend, and leaves every other request (a POST, an
 * answer already streaming) to finish or time out as before.
 */
export class InFlightAttempts {
  readonly #byEndpoint = new Map<string, Set<AbandonableAttempt>>();
  readonly #lost = new Set<string>();

  /**
   * Endpoints declared gone and not yet back: a retry skips them even when
   * it picks from the selection its request started with, which a newer
   * table may have replaced.
   */
  get lost(): ReadonlySet<string> {
    return this.#lost;
  }

  /** `endpointId` is routable again (healthy in a table and not ejected). */
  restored(endpointId: string): void {
    this.#lost.delete(endpointId);
  }

  /** Forgets lost endpoints that are in no table any more (`ids`: every endpoint of the table in force). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#lost) if (!ids.has(id)) this.#lost.delete(id);
  }

  /** Registers `attempt` on `endpointId`; {@link delete} it when the attempt ends. */
  add(endpointId: string, attempt: AbandonableAttempt): void {
    let set = this.#byEndpoint.get(endpointId);
    if (!set) {
      set = new Set();
      this.#byEndpoint.set(endpointId, set);
    }
    set.add(attempt);
  }

  /**
   * Removes `attempt` from `endpointId` (it ended). A method rather than a
   * closure handed back by {@link add}: most requests are registered, and
   * the closure was one more allocation per request.
   */
  delete(endpointId: string, attempt: AbandonableAttempt): void {
    const set = this.#byEndpoint.get(endpointId);
    if (set === undefined) return;
    set.delete(attempt);
    if (set.size === 0) this.#byEndpoint.delete(endpointId);
  }

  /** Gives up the attempts to `endpointId` that have no answer yet, with an error naming `why`; how many. */
  abandon(endpointId: string, why: string): number {
    this.#lost.add(endpointId);
    const set = this.#byEndpoint.get(endpointId);
    if (!set) return 0;
    let n = 0;
    for (const attempt of [...set]) {
      const err = Object.assign(new Error(`endpoint ${endpointId} ${why} while the request waited for its answer`), {
        code: ENDPOINT_LOST_CODE,
      });
      if (attempt.abandon(err)) n++;
    }
    return n;
  }

  /** Attempts registered now, over every endpoint (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.#byEndpoint.values()) n += set.size;
    return n;
  }
}
