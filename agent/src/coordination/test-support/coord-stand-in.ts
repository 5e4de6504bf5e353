// An in-process stand-in for the control plane's side of coordination, for
// the agent's unit tests: it answers `coord` requests from an in-memory map,
// sends `coordEvent`s to watchers and the losing holder, and lapses leases on
// a timer. Several agents (Coordinations) attach to it, each with its own id.
// It is a stand-in for the stream, not a model of the store's guarantees: the
// e2e test (test/coordination/agent-locks-api.test.ts) runs the real one.
import type { Coord, CoordEvent, CoordKind, CoordReason, CoordResult, CoordState } from '@meshlet/shared';
import { Coordination } from '../coordination.js';
import { createLogger } from '@meshlet/shared';

interface Entry {
  state: CoordState;
  timer?: NodeJS.Timeout;
}

interface Attached {
  agentId: string;
  coordination: Coordination;
  connected: boolean;
  watches: Set<string>;
}

/** The stand-in; `silent` stops it answering (a request then times out). */
export class CoordStandIn {
  revision = 0;
  silent = false;
  /** Sent with every successful acquire and renew when set, as the control plane's `heartbeat.timeoutMs`. */
  disconnectGraceMs: number | undefined;
  /** Agents whose instance the stand-in takes for unhealthy: their acquires are refused (`refusal: 'unhealthy'`). */
  readonly unhealthy = new Set<string>();
  readonly service = 'orders';
  readonly entries = new Map<string, Entry>();
  readonly agents: Attached[] = [];
  /** Every request received, in order. */
  readonly received: Array<Coord & { agentId: string }> = [];

  /** A new agent's coordination, attached and connected. */
  attach(agentId: string, options: { timeoutMs?: number; maxOpenRequests?: number } = {}): Coordination {
    const box: { me?: Attached } = {};
    const coordination = new Coordination({
      send: (m) => {
        const a = box.me;
        if (a === undefined || !a.connected) return false;
        queueMicrotask(() => this.#handle(a, m));
        return true;
      },
      clock: Date.now,
      log: createLogger('test', 'silent'),
      ...options,
    });
    box.me = { agentId, coordination, connected: false, watches: new Set() };
    this.agents.push(box.me);
    this.connect(agentId);
    return coordination;
  }

  /** The agent's stream opens. */
  connect(agentId: string): void {
    const a = this.#agent(agentId);
    a.connected = true;
    a.watches.clear();
    a.coordination.connectionChanged(true);
  }

  /** The agent's stream drops (its watches are forgotten, as a replica would). */
  drop(agentId: string): void {
    const a = this.#agent(agentId);
    a.connected = false;
    a.watches.clear();
    a.coordination.connectionChanged(false);
  }

  /** Frees a lock as the control plane would (lapse, health, operator), telling watchers and the holder. */
  free(kind: CoordKind, name: string, reason: CoordReason): void {
    const e = this.entries.get(`${kind}/${name}`);
    if (e?.state.holder === undefined) return;
    clearTimeout(e.timer);
    const lostBy = e.state.holder.agentId;
    const token = e.state.token;
    e.state = { kind, name, service: this.service, revision: ++this.revision };
    this.#broadcast(e.state, reason, lostBy, token);
  }

  close(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
    for (const a of this.agents) a.coordination.close();
  }

  #grace(): Partial<CoordResult> {
    return this.disconnectGraceMs === undefined ? {} : { disconnectGraceMs: this.disconnectGraceMs };
  }

  #agent(agentId: string): Attached {
    const a = this.agents.find((x) => x.agentId === agentId);
    if (a === undefined) throw new Error(`no agent ${agentId}`);
    return a;
  }

  #broadcast(state: CoordState, reason: CoordReason, lostBy?: string, lost?: number): void {
    const key = `${state.kind}/${state.name}`;
    for (const a of this.agents) {
      if (!a.connected) continue;
      const losing = a.agentId === lostBy && lost !== undefined;
      if (!a.watches.has(key) && !losing) continue;
      const event: CoordEvent = { type: 'coordEvent', state, reason, ...(losing ? { lost } : {}) };
      a.coordination.onMessage(event);
    }
  }

  #handle(a: Attached, m: Coord): void {
    this.received.push({ ...m, agentId: a.agentId });
    if (this.silent || !a.connected) return;
    const key = `${m.kind}/${m.name}`;
    const entry = this.entries.get(key) ?? {
      state: { kind: m.kind, name: m.name, service: this.service, revision: 0 },
    };
    this.entries.set(key, entry);
    const answer = (ok: boolean, extra: Partial<CoordResult> = {}): void => {
      if (!a.connected) return;
      a.coordination.onMessage({ type: 'coordResult', id: m.id, ok, state: entry.state, ...extra });
    };
    const s = entry.state;
    const mine = s.holder?.agentId === a.agentId && s.token === m.token;
    const lapse = (ttlMs: number): void => {
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.free(m.kind, m.name, 'expired'), ttlMs);
    };
    switch (m.op) {
      case 'watch':
        a.watches.add(key);
        return answer(true);
      case 'unwatch':
        a.watches.delete(key);
        return answer(true);
      case 'get':
        return answer(true);
      case 'acquire': {
        if (this.unhealthy.has(a.agentId))
          return answer(false, { code: 'MESHLET_COORDINATION_REFUSED', refusal: 'unhealthy', message: 'unhealthy' });
        if (s.holder !== undefined) return answer(false, { code: 'MESHLET_LOCK_HELD', message: 'held' });
        const token = ++this.revision;
        entry.state = {
          ...s,
          holder: { agentId: a.agentId, instanceId: `${a.agentId}-i`, ...(m.label ? { label: m.label } : {}) },
          token,
          ttlMs: m.ttlMs ?? 15_000,
          revision: token,
        };
        lapse(m.ttlMs ?? 15_000);
        answer(true, this.#grace());
        return this.#broadcast(entry.state, 'acquired');
      }
      case 'renew':
        if (!mine) return answer(false, { code: 'MESHLET_LOCK_NOT_HELD', message: 'not held' });
        lapse(m.ttlMs ?? s.ttlMs ?? 15_000);
        return answer(true, this.#grace());
      case 'release':
        if (!mine) return answer(false, { code: 'MESHLET_LOCK_NOT_HELD', message: 'not held' });
        clearTimeout(entry.timer);
        entry.state = { kind: m.kind, name: m.name, service: this.service, revision: ++this.revision };
        answer(true);
        return this.#broadcast(entry.state, 'released');
    }
  }
}
