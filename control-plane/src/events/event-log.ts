/** What kind of decision an event records (`primary`: a managed service's failover election and switchover). */
export type EventKind = 'health' | 'failover' | 'drain' | 'coordination' | 'sharding' | 'primary';

/**
 * One decision of the control plane: an instance changing state, a service
 * changing its serving tier, an operator's drain. `from` and `to` are states
 * for health events and tiers (as `tier-N`) for failover events.
 */
export interface MeshEvent {
  /** Grows by one per event; lets a reader ask for what came after one it saw. */
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  kind: EventKind;
  service: string;
  /** The instance concerned, for health and drain events. */
  instance?: string;
  from: string;
  to: string;
  reason: string;
  /** The signals behind the decision, as recorded at the time. */
  evidence: Record<string, unknown>;
}

/** Where an engine records its decisions: the event log, or a sink that drops them (see the control plane's replication). */
export interface DecisionSink {
  add(event: Omit<MeshEvent, 'seq' | 'time'>): unknown;
}

/** A filter for {@link EventLog.list}. */
export interface EventFilter {
  service?: string;
  kind?: EventKind;
  instance?: string;
  /** Only events with a larger `seq`. */
  afterSeq?: number;
  /** At most this many, the newest. */
  limit?: number;
}

/**
 * The bounded log of decisions: a ring of the newest `capacity` events, so a
 * flapping mesh cannot grow it without bound. Listeners hear each event as it
 * is added (for a live stream).
 *
 * Events decided elsewhere come in through {@link insert} with their own
 * sequence numbers and times; listeners hear them with `inserted` set, so
 * that what acts on a decision (webhooks) acts where it was decided.
 */
export class EventLog {
  readonly #capacity: number;
  readonly #events: (MeshEvent | undefined)[];
  readonly #listeners = new Set<(e: MeshEvent, inserted: boolean) => void>();
  #next = 0;
  #seq = 0;
  readonly #clock: () => number;

  constructor(capacity: number, clock: () => number) {
    this.#capacity = capacity;
    this.#events = new Array<MeshEvent | undefined>(capacity);
    this.#clock = clock;
  }

  /** Records an event, stamping its time and sequence number. */
  add(event: Omit<MeshEvent, 'seq' | 'time'>): MeshEvent {
    const e: MeshEvent = { seq: ++this.#seq, time: this.#clock(), ...event };
    this.#append(e, false);
    return e;
  }

  /** Records an event decided elsewhere, keeping its `seq` and time; one already held (same or lower seq) is ignored. */
  insert(e: MeshEvent): boolean {
    if (e.seq <= this.#seq) return false;
    this.#seq = e.seq;
    this.#append(e, true);
    return true;
  }

  /** The `seq` of the newest event, 0 before the first. */
  get lastSeq(): number {
    return this.#seq;
  }

  #append(e: MeshEvent, inserted: boolean): void {
    this.#events[this.#next] = e;
    this.#next = (this.#next + 1) % this.#capacity;
    for (const l of this.#listeners) l(e, inserted);
  }

  /** Events matching `filter`, oldest first. */
  list(filter: EventFilter = {}): MeshEvent[] {
    const out: MeshEvent[] = [];
    for (let i = 0; i < this.#capacity; i++) {
      const e = this.#events[(this.#next + i) % this.#capacity];
      if (e === undefined) continue;
      if (filter.service !== undefined && e.service !== filter.service) continue;
      if (filter.kind !== undefined && e.kind !== filter.kind) continue;
      if (filter.instance !== undefined && e.instance !== filter.instance) continue;
      if (filter.afterSeq !== undefined && e.seq <= filter.afterSeq) continue;
      out.push(e);
    }
    return filter.limit !== undefined && out.length > filter.limit ? out.slice(out.length - filter.limit) : out;
  }

  /** Calls `listener` for every new event until the returned function is called. */
  subscribe(listener: (e: MeshEvent, inserted: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
