import { createLogger, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentRecord } from '../registry/agent-record.js';
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
