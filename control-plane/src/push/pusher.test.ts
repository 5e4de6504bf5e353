import { createLogger, type Endpoint, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentRecord } from '../registry/agent-record.js';
import { agentRecord } from '../registry/test-support/agent-record.js';
import { Pusher, type PusherOptions, type TableSink } from './pusher.js';
import { MemoryStore } from '../store/test-support/memory-store.js';

function sink(): TableSink & { sent: Routes[] } {
  const sent: Routes[] = [];
  return { record: { agentId: 'a', sent: undefined } as AgentRecord, sent, send: (m: Routes) => void sent.push(m) };
}

describe('Pusher', () => {
  let services: Record<string, ServiceRoutes>;
  let store: MemoryStore;
  const log = createLogger('test', 'silent');

  beforeEach(() => {
    vi.useFakeTimers();
    services = { hello: { endpoints: [] } };
    store = new MemoryStore();
  });
  afterEach(() => vi.useRealTimers());

  const make = (o: Partial<PusherOptions> = {}) => {
    let n = 0;
    return new Pusher({
      build: () => structuredClone(services),
      store,
      log,
      clock: Date.now,
      nonce: () => `n${++n}`,
      debounceMs: 20,
      maxDelayMs: 100,
      startupGraceMs: 0,
      ...o,
    });
  };

  it('coalesces a burst of changes into one version and skips unchanged tables', () => {
    const p = make();
    const s = sink();
    p.add(s, 0);
    for (let i = 0; i < 5; i++) {
      p.schedule();
      vi.advanceTimersByTime(5);
    }
    vi.advanceTimersByTime(20);
    expect(s.sent.map((m) => m.version)).toEqual([1]);
    p.schedule();
    vi.advanceTimersByTime(50);
    expect(p.version).toBe(1);
    services.hello = { endpoints: [{ id: 'h', host: 'x', port: 1, tier: 0, weight: 1, labels: {} }] };
    p.schedule();
    vi.advanceTimersByTime(20);
    expect(s.sent.map((m) => m.version)).toEqual([1, 2]);
    expect(s.sent[0]?.nonce).not.toBe(s.sent[1]?.nonce);
    expect(store.get<{ version: number }>('routing')?.version).toBe(2);
  });

  it('sends at least every maxDelayMs under a steady stream of changes', () => {
    const p = make();
    let flushes = 0;
    for (let t = 0; t < 250; t += 10) {
      services = { [`s${t}`]: { endpoints: [] } };
      p.schedule();
      vi.advanceTimersByTime(10);
      if (p.version > flushes) flushes = p.version;
    }
    expect(flushes).toBeGreaterThanOrEqual(2);
  });

  it('continues versions from the store and above what an agent holds', () => {
    store.data.set('routing', { version: 41 });
    const p = make();
    p.flush();
    expect(p.version).toBe(42);
    const s = sink();
    p.add(s, 100);
    vi.advanceTimersByTime(20);
    expect(p.version).toBe(101);
    expect(s.sent.at(-1)?.version).toBe(101);
  });

  it('pushes nothing during the startup grace period, then the table to everyone', () => {
    const p = make({ startupGraceMs: 1000 });
    const s = sink();
    p.add(s, 0);
    p.schedule();
    vi.advanceTimersByTime(500);
    expect(s.sent).toEqual([]);
    expect(p.inGrace()).toBe(true);
    vi.advanceTimersByTime(600);
    expect(s.sent.map((m) => m.version)).toEqual([1]);
  });

  it('does not resend a version an agent already has', () => {
    const p = make();
    const s = sink();
    p.add(s, 0);
    p.flush();
    p.flush();
    expect(s.sent).toHaveLength(1);
    const late = sink();
    p.add(late, 0);
    expect(late.sent.map((m) => m.version)).toEqual([1]);
  });
});

// Exact timings. The injected clock and the fake timers move together, one
// millisecond at a time, so that what the pusher reads from its clock is what
// a real timer would have seen.

/** A Store kept in memory that records every put. */
class RecordingStore extends MemoryStore {
  readonly puts: Array<{ key: string; value: unknown }> = [];
  override async put(key: string, value: unknown): Promise<number> {
    this.puts.push({ key, value: structuredClone(value) });
    return super.put(key, structuredClone(value));
  }
}

type FakeSink = TableSink & { send: ReturnType<typeof vi.fn<(m: Routes) => void>> };

function fakeSink(agentId: string): FakeSink {
  const record = agentRecord(agentId, { instance: undefined });
  return { record, send: vi.fn<(m: Routes) => void>() };
}

const versionsSent = (s: FakeSink) => s.send.mock.calls.map(([m]) => m.version);
const endpoint = (id: string): Endpoint => ({ id, host: '10.0.0.1', port: 15006, tier: 0, weight: 1, labels: {} });

describe('Pusher timing and versions', () => {
  let now: number;
  let services: Record<string, ServiceRoutes>;
  let store: RecordingStore;
  let nonces: number;
  const log = createLogger('t', 'silent');

  /** Advances the injected clock and the fake timers together. */
  const tick = (ms: number) => {
    for (let i = 0; i < ms; i++) {
      now += 1;
      vi.advanceTimersByTime(1);
    }
  };
  /** Changes the table the registry would build. */
  const change = (id: string) => {
    services = { orders: { endpoints: [...(services.orders?.endpoints ?? []), endpoint(id)] } };
  };

  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
    services = { orders: { endpoints: [] } };
    store = new RecordingStore();
    nonces = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const make = (o: Partial<PusherOptions> = {}) =>
    new Pusher({
      build: () => structuredClone(services),
      store,
      log,
      clock: () => now,
      nonce: () => `nonce-${++nonces}`,
      debounceMs: 20,
      maxDelayMs: 100,
      startupGraceMs: 0,
      ...o,
    });

  it('waits debounceMs after the last change of a burst, then makes one version', () => {
    const p = make();
    const s = fakeSink('a');
    p.add(s, 0);
    for (let i = 0; i < 4; i++) {
      change(`e${i}`);
      p.schedule();
      tick(10);
    }
    // Last change at +30: quiet until +49, sent at +50.
    tick(9);
    expect(s.send).not.toHaveBeenCalled();
    tick(1);
    expect(versionsSent(s)).toEqual([1]);
    expect(s.send.mock.calls[0]?.[0].services.orders?.endpoints.map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3']);
    tick(500);
    expect(p.version).toBe(1);
  });

  it('sends exactly maxDelayMs after the first change under a steady stream, then starts a new window', () => {
    const p = make();
    const s = fakeSink('a');
    p.add(s, 0);
    const start = now;
    const sentAt: number[] = [];
    s.send.mockImplementation(() => void sentAt.push(now - start));
    for (let i = 0; i < 25; i++) {
      change(`e${i}`);
      p.schedule();
      tick(10);
    }
    tick(100);
    // Changes every 10 ms never leave 20 ms of quiet: only the max delay sends.
    // The second window opens with the change at +100; the last change (+240) is sent after the debounce.
    expect(sentAt).toEqual([100, 200, 260]);
    expect(versionsSent(s)).toEqual([1, 2, 3]);
  });

  it('sends at once when maxDelayMs is 0', () => {
    const p = make({ maxDelayMs: 0 });
    const s = fakeSink('a');
    p.add(s, 0);
    p.schedule();
    vi.advanceTimersByTime(0);
    expect(versionsSent(s)).toEqual([1]);
  });

  it('makes no version, store write or send for a table that did not change', () => {
    const p = make();
    const s = fakeSink('a');
    p.add(s, 0);
    p.flush();
    expect(store.puts).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      p.schedule();
      tick(20);
    }
    p.flush();
    expect(p.version).toBe(1);
    expect(store.puts).toHaveLength(1);
    expect(s.send).toHaveBeenCalledTimes(1);
  });

  it('persists each new version and reports it, and gives each version its own nonce', () => {
    const onVersion = vi.fn();
    const p = make({ onVersion });
    const s = fakeSink('a');
    p.add(s, 0);
    p.flush();
    change('x');
    p.flush();
    change('y');
    p.flush();
    expect(store.puts).toEqual([1, 2, 3].map((version) => ({ key: 'routing', value: { version } })));
    expect(onVersion.mock.calls).toEqual([[1], [2], [3]]);
    const sent = s.send.mock.calls.map(([m]) => m.nonce);
    expect(new Set(sent).size).toBe(3);
    expect(p.current).toMatchObject({ type: 'routes', version: 3, nonce: sent[2] });
  });

  it('records what it sent to each agent, stamped with the injected clock', () => {
    const p = make();
    const s = fakeSink('a');
    p.add(s, 0);
    p.flush();
    expect(s.record.sent).toEqual({ version: 1, nonce: 'nonce-1', at: now });
  });

  it('continues from the version in the store across a restart', () => {
    const first = make();
    first.flush();
    change('x');
    first.flush();
    first.close();
    expect(first.version).toBe(2);

    const second = make();
    expect(second.version).toBe(2);
    const s = fakeSink('a');
    second.add(s, 2);
    second.flush();
    expect(versionsSent(s)).toEqual([3]);
  });

  it('lifts the counter above a version an agent holds, even with an unchanged table', () => {
    const p = make();
    p.flush();
    const ahead = fakeSink('ahead');
    p.add(ahead, 50);
    expect(p.version).toBe(50);
    tick(20);
    expect(versionsSent(ahead)).toEqual([51]);
    expect(store.get<{ version: number }>('routing')).toEqual({ version: 51 });
    // An agent holding less does not lower it.
    const behind = fakeSink('behind');
    p.add(behind, 3);
    expect(versionsSent(behind)).toEqual([51]);
    expect(p.version).toBe(51);
  });

  it('sends a table only to agents that lack its version', () => {
    const p = make();
    const a = fakeSink('a');
    const b = fakeSink('b');
    p.add(a, 0);
    p.flush();
    p.add(b, 0);
    expect(versionsSent(a)).toEqual([1]);
    expect(versionsSent(b)).toEqual([1]);
    p.flush();
    expect(a.send).toHaveBeenCalledTimes(1);
    expect(b.send).toHaveBeenCalledTimes(1);
    change('x');
    p.flush();
    expect(versionsSent(a)).toEqual([1, 2]);
    expect(versionsSent(b)).toEqual([1, 2]);
  });

  it('stops sending to a removed agent', () => {
    const p = make();
    const a = fakeSink('a');
    p.add(a, 0);
    p.flush();
    p.remove(a);
    change('x');
    p.flush();
    expect(versionsSent(a)).toEqual([1]);
  });

  describe('startup grace period', () => {
    it('sends nothing before it ends, then the table to everyone without any change', () => {
      const p = make({ startupGraceMs: 1_000 });
      const a = fakeSink('a');
      const b = fakeSink('b');
      p.add(a, 0);
      change('x');
      p.schedule();
      tick(500);
      p.add(b, 0);
      p.flush();
      tick(499);
      expect(p.inGrace()).toBe(true);
      expect(a.send).not.toHaveBeenCalled();
      expect(b.send).not.toHaveBeenCalled();
      expect(store.puts).toEqual([]);
      tick(1);
      expect(p.inGrace()).toBe(false);
      expect(versionsSent(a)).toEqual([1]);
      expect(versionsSent(b)).toEqual([1]);
    });

    it('goes out above the highest version an agent reported during it', () => {
      store.data.set('routing', { version: 10 });
      const p = make({ startupGraceMs: 1_000 });
      const a = fakeSink('a');
      p.add(a, 12);
      tick(999);
      expect(a.send).not.toHaveBeenCalled();
      tick(1);
      expect(versionsSent(a)).toEqual([13]);
    });

    it('never ends once closed', () => {
      const p = make({ startupGraceMs: 1_000 });
      const a = fakeSink('a');
      p.add(a, 0);
      p.close();
      tick(2_000);
      p.schedule();
      p.flush();
      tick(100);
      expect(a.send).not.toHaveBeenCalled();
    });
  });

  it('sends nothing after close, even with a change pending', () => {
    const p = make();
    const a = fakeSink('a');
    p.add(a, 0);
    change('x');
    p.schedule();
    p.close();
    tick(200);
    expect(a.send).not.toHaveBeenCalled();
    expect(p.version).toBe(0);
  });
});
