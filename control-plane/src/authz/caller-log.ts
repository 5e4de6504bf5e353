import type { Clock, Observations } from '@meshlet/shared';

/** One caller of a service, as the control plane saw it. */
export interface SeenCaller {
  /** The caller's service: the service of the credential its agent was admitted with, else of its instance. */
  service: string;
  /** Attempts its agent reported (answered and failed). */
  requests: number;
  firstSeenAt: number;
  lastSeenAt: number;
}

/** The callers of one service. */
export interface CallersView {
  service: string;
  /** Since when this control plane has been collecting (its start). */
  since: number;
  callers: SeenCaller[];
  /** Attempts reported by agents with no service identity (a client-only agent admitted without a per-service credential). */
  unidentifiedRequests: number;
}

/** At most this many callers are kept per service: the rest are counted as unidentified rather than grow the map. */
const MAX_CALLERS_PER_SERVICE = 10_000;

/**
 * Who calls whom, from the reports callers send about once a second
 * (`observations`): the basis of `meshctl authz suggest`, a least-privilege
 * policy from the callers actually seen. In memory, since this control
 * plane started (a restart starts over; with replicas, each knows the
 * callers of its own agents). Only endpoints the control plane knows are
 * counted, so a caller cannot make up services.
 */
export class CallerLog {
  readonly #clock: Clock;
  readonly #since: number;
  readonly #callees = new Map<string, { callers: Map<string, SeenCaller>; unidentified: number }>();

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#since = clock();
  }

  /** Adds one report of the agent whose service is `caller` (undefined: unknown). */
  record(caller: string | undefined, report: Observations, known: (service: string, id: string) => boolean): void {
    const now = this.#clock();
    for (const o of report.endpoints) {
      const requests = o.ok + o.failed;
      if (requests === 0 || !known(o.service, o.id)) continue;
      let callee = this.#callees.get(o.service);
      if (!callee) {
        callee = { callers: new Map(), unidentified: 0 };
        this.#callees.set(o.service, callee);
      }
      const seen = caller === undefined ? undefined : callee.callers.get(caller);
      if (seen) {
        seen.requests += requests;
        seen.lastSeenAt = now;
      } else if (caller !== undefined && callee.callers.size < MAX_CALLERS_PER_SERVICE) {
        callee.callers.set(caller, { service: caller, requests, firstSeenAt: now, lastSeenAt: now });
      } else {
        callee.unidentified += requests;
      }
    }
  }

  /** The callers of `service` seen so far, by name. */
  callersOf(service: string): CallersView {
    const callee = this.#callees.get(service);
    return {
      service,
      since: this.#since,
      callers: [...(callee?.callers.values() ?? [])]
        .map((c) => ({ ...c }))
        .sort((a, b) => a.service.localeCompare(b.service)),
      unidentifiedRequests: callee?.unidentified ?? 0,
    };
  }
}
