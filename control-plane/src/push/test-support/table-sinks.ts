import { createLogger, type Endpoint, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach } from 'vitest';
import type { AgentRecord } from '../../registry/agent-record.js';
import { agentRecord } from '../../registry/test-support/agent-record.js';
import { MemoryStore } from '../../store/test-support/memory-store.js';
import type { Convergence } from '../convergence-tracker.js';
import { Pusher } from '../pusher.js';
import type { TableSink } from '../table-sink.js';

/** An agent that keeps every table it was sent, and its text. */
export type Sink = TableSink & { sent: Routes[]; texts: string[] };

/** A sink for agent `id`. */
export function sink(id: string, record: AgentRecord = agentRecord(id, { instance: undefined })): Sink {
  const sent: Routes[] = [];
  const texts: string[] = [];
  return {
    record,
    sent,
    texts,
    send: (m: Routes, text: string) => {
      sent.push(m);
      texts.push(text);
    },
  };
}

/** An endpoint of tier 0, healthy unless said otherwise. */
export const ep = (id: string, health?: 'unhealthy'): Endpoint => ({
  id,
  host: '127.0.0.1',
  port: 1,
  tier: 0,
  weight: 1,
  labels: {},
  ...(health ? { health } : {}),
});

/** What {@link usePusher} sets up before each test; a test moves `now` and changes `services`. */
export interface PusherFixture {
  now: number;
  services: Record<string, ServiceRoutes>;
  converged: Convergence[];
  p: Pusher;
}

/**
 * Before each test, a pusher that sends at once (no debounce, no grace),
 * with the first table already made from services a, b and c; closed after.
 */
export function usePusher(): PusherFixture {
  const s = {} as PusherFixture;
  beforeEach(() => {
    s.now = 1000;
    s.services = { a: { endpoints: [ep('a-1')] }, b: { endpoints: [ep('b-1')] }, c: { endpoints: [ep('c-1')] } };
    s.converged = [];
    s.p = new Pusher({
      build: () => structuredClone(s.services),
      store: new MemoryStore(),
      log: createLogger('test', 'silent'),
      clock: () => s.now,
      nonce: () => `n${s.now}`,
      debounceMs: 0,
      maxDelayMs: 0,
      startupGraceMs: 0,
      onConverged: (c) => s.converged.push(c),
    });
    s.p.flush();
  });
  afterEach(() => s.p.close());
  return s;
}
