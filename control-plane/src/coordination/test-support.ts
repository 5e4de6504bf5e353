import type { CoordEvent, CoordResult } from '@meshlet/shared';
import type { CoordIdentity, CoordPeer } from './coord-peer.js';
import type { LockTimers } from './lock-timers.js';

/** Timers a test fires by moving its clock forward ({@link ManualTimers.advance}). */
export class ManualTimers implements LockTimers {
  now = 1_000_000;
  #next = 0;
  readonly #due = new Map<number, { at: number; fn: () => void }>();
  readonly clock = (): number => this.now;

  set(fn: () => void, ms: number): unknown {
    const id = ++this.#next;
    this.#due.set(id, { at: this.now + ms, fn });
    return id;
  }

  clear(handle: unknown): void {
    this.#due.delete(handle as number);
  }

  /** Moves the clock by `ms`, firing every timer due by then in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = [...this.#due.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!next) break;
      this.#due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = until;
  }
}

/** A stream that records what it is sent. */
export class FakePeer implements CoordPeer {
  readonly sent: (CoordResult | CoordEvent)[] = [];
  constructor(readonly coordIdentity: CoordIdentity) {}
  sendCoord(message: CoordResult | CoordEvent): void {
    this.sent.push(message);
  }
  /** The answer to request `id`. */
  result(id: number): CoordResult | undefined {
    return this.sent.find((m): m is CoordResult => m.type === 'coordResult' && m.id === id);
  }
  events(): CoordEvent[] {
    return this.sent.filter((m): m is CoordEvent => m.type === 'coordEvent');
  }
}

/** Lets pending promise callbacks (store writes) run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));
