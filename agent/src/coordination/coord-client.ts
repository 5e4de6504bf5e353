import type { Coord, CoordEvent, CoordKind, CoordResult, Logger } from '@meshlet/shared';
import { COORD_ANSWER_TIMEOUT_MS, outcomeUnknown, streamDown } from './coord-failure.js';

/** One coordination operation as the agent's parts ask for it: a `coord` message without its `type` and `id`. */
export type CoordRequest = Omit<Coord, 'type' | 'id'>;

/** A `coordResult` with when its request was sent (the agent counts a lease from then). */
export interface CoordAnswer {
  result: CoordResult;
  /** The agent's wall-clock ms when the request went out. */
  sentAt: number;
}

/** Options of {@link CoordClient}. */
export interface CoordClientOptions {
  /** Sends a `coord` on the control-plane stream; false (nothing sent) when no stream is open. */
  send: (message: Coord) => boolean;
  clock: () => number;
  log: Logger;
  /** How long to wait for an answer (default {@link COORD_ANSWER_TIMEOUT_MS}). */
  timeoutMs?: number;
  /**
   * Told how each request ended: `ok`, the refusal's code, `unavailable` (no stream) or `timeout` (for metrics);
   * and `late-release` for an acquire (or campaign) granted after its timeout, which the agent gives back.
   */
  onOutcome?: (op: Coord['op'], result: string) => void;
}

interface Pending {
  resolve: (answer: CoordAnswer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  request: CoordRequest;
  sentAt: number;
}

/** How many timed-out requests the client remembers, to give back a grant that lands after its timeout. */
export const MAX_LATE_REQUESTS = 1024;

/** `kind/name`: one lock or election, as a map key. */
export function coordKey(kind: CoordKind, name: string): string {
  return `${kind}/${name}`;
}

/**
 * The agent's side of coordination over its control-plane stream: each
 * request goes out as a `coord` with an id of its own and is settled by the
 * `coordResult` with the same id. It never answers from a cache: with no
 * stream open a request fails at once, and one without an answer within
 * 5 s (or when the stream drops first) fails saying its outcome is
 * unknown. It keeps the control plane's watches: counted per lock, sent
 * again on every new stream (a replica knows nothing of the last one's).
 */
export class CoordClient {
  readonly #o: CoordClientOptions;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** Requests that timed out on the stream open now, by id, oldest first: their answer may still come. */
  readonly #late = new Map<number, CoordRequest>();
  readonly #watches = new Map<string, { kind: CoordKind; name: string; count: number }>();
  readonly #eventListeners = new Set<(event: CoordEvent) => void>();
  readonly #connectionListeners = new Set<(connected: boolean) => void>();
  #connected = false;

  constructor(options: CoordClientOptions) {
    this.#o = options;
  }

  /** Whether the stream is open (as last told by {@link connectionChanged}). */
  get connected(): boolean {
    return this.#connected;
  }

  /**
   * Sends one request and resolves to its answer (`ok` true or false); rejects
   * with `MESHLET_COORDINATION_UNAVAILABLE` when it cannot be sent or no
   * answer comes.
   */
  request(request: CoordRequest): Promise<CoordAnswer> {
    const what = `${request.kind} "${request.name}"`;
    const outcome = (result: string): void => this.#o.onOutcome?.(request.op, result);
    const down = (): Promise<never> => {
      outcome('unavailable');
      return Promise.reject(streamDown(request.op, what));
    };
    if (!this.#connected) return down();
    const id = this.#nextId++;
    const sentAt = this.#o.clock();
    if (!this.#o.send({ type: 'coord', id, ...request })) return down();
    return new Promise<CoordAnswer>((resolve, reject) => {
      const timeoutMs = this.#o.timeoutMs ?? COORD_ANSWER_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#late.set(id, request);
        if (this.#late.size > MAX_LATE_REQUESTS) this.#late.delete(this.#late.keys().next().value as number);
        this.#o.log.warn(
          { op: request.op, kind: request.kind, name: request.name, timeoutMs },
          'no coordination answer in time',
        );
        outcome('timeout');
        reject(outcomeUnknown(request.op, what, `the control plane did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer, request, sentAt });
    });
  }

  /**
   * Asks the control plane for a `coordEvent` on every change of this lock
   * while the returned function has not been called (watches are counted:
   * the last one off sends `unwatch`).
   */
  watch(kind: CoordKind, name: string): () => void {
    const key = coordKey(kind, name);
    const held = this.#watches.get(key);
    if (held !== undefined) held.count++;
    else {
      this.#watches.set(key, { kind, name, count: 1 });
      this.#sendWatch('watch', kind, name);
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const w = this.#watches.get(key);
      if (w === undefined || --w.count > 0) return;
      this.#watches.delete(key);
      this.#sendWatch('unwatch', kind, name);
    };
  }

  /** Calls `listener` with every `coordEvent`; returns a function that stops it. */
  onEvent(listener: (event: CoordEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Calls `listener` when the stream opens (true) or drops (false); returns a function that stops it. */
  onConnection(listener: (connected: boolean) => void): () => void {
    this.#connectionListeners.add(listener);
    return () => this.#connectionListeners.delete(listener);
  }

  /** A `coordResult` or `coordEvent` from the stream (the control client's `coordination` option). */
  onMessage(message: CoordResult | CoordEvent): void {
    if (message.type === 'coordEvent') {
      for (const l of [...this.#eventListeners]) l(message);
      return;
    }
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return this.#lateAnswer(message);
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    this.#o.onOutcome?.(pending.request.op, message.ok ? 'ok' : (message.code ?? 'refused'));
    pending.resolve({ result: message, sentAt: pending.sentAt });
  }

  /**
   * The stream opened or dropped. On a drop every request in flight fails at
   * once (its outcome unknown); on a new stream the watches are sent again.
   */
  connectionChanged(connected: boolean): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    if (!connected) {
      this.#late.clear(); // no answer comes on a new stream for a request of the last one
      for (const [id, p] of this.#pending) {
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.reject(
          outcomeUnknown(p.request.op, `${p.request.kind} "${p.request.name}"`, 'the control-plane stream dropped'),
        );
      }
    } else {
      for (const w of this.#watches.values()) this.#sendWatch('watch', w.kind, w.name);
    }
    for (const l of [...this.#connectionListeners]) l(connected);
  }

  /** Fails every request in flight and forgets the watches (the agent is stopping). */
  close(): void {
    this.connectionChanged(false);
    this.#watches.clear();
    this.#eventListeners.clear();
    this.#connectionListeners.clear();
  }

  /**
   * An answer after its request's timeout: the app was told the outcome is
   * unknown and holds nothing. A grant (an acquire, a campaign won) is
   * released at once with its token, or the lock would stay held by nobody
   * for up to its TTL, and the app's retries refused as held by itself.
   */
  #lateAnswer(message: CoordResult): void {
    const request = this.#late.get(message.id);
    if (request === undefined) return;
    this.#late.delete(message.id);
    const token = message.state?.token;
    if (request.op !== 'acquire' || !message.ok || token === undefined) return;
    const { kind, name } = request;
    this.#o.log.warn({ kind, name, token }, 'a grant came after its timeout: released, the app was told 503');
    this.#o.onOutcome?.(request.op, 'late-release');
    this.request({ op: 'release', kind, name, token }).then(
      ({ result }) => {
        if (!result.ok) this.#o.log.warn({ kind, name, token, code: result.code }, 'a late grant was not released');
      },
      () => undefined, // no stream or no answer: it lapses with its TTL (or the holder's agent being away)
    );
  }

  #sendWatch(op: 'watch' | 'unwatch', kind: CoordKind, name: string): void {
    if (!this.#connected) return; // sent with the others when the stream is back
    this.request({ op, kind, name }).then(
      ({ result }) => {
        if (!result.ok) this.#o.log.warn({ op, kind, name, code: result.code }, 'the control plane refused a watch');
      },
      () => undefined, // the stream dropped or timed out: a new stream sends the watches again
    );
  }
}
