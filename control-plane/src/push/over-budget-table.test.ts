import { Writable } from 'node:stream';
import { createLogger, type Routes, type ServiceRoutes } from '@meshlet/shared';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentRecord } from '../registry/agent-record.js';
import { MemoryStore } from '../store/test-support/memory-store.js';
import { Pusher } from './pusher.js';

// A table over the budget (here grown by a policy of the config file or by
// registrations, since the admin API refuses such a policy) is neither made
// nor sent: agents keep what they hold, and the log names the limit.
describe('Pusher with a table budget', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('does not send a table of 1000 services each with maglevTableSize 655373, and sends again once it fits', () => {
    const maglev = { balancer: { kind: 'maglev', maglevTableSize: 655_373 } } as ServiceRoutes['policy'];
    let services: Record<string, ServiceRoutes> = { hello: { endpoints: [] } };
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger('test', 'error', sink);
    const p = new Pusher({
      build: () => structuredClone(services),
      store: new MemoryStore(),
      log,
      clock: Date.now,
      nonce: () => 'n',
      debounceMs: 0,
      maxDelayMs: 0,
      startupGraceMs: 0,
      budget: { maxHashEntries: 16_777_216, maxServices: 10_000, maxEndpoints: 100_000 },
    });
    const sent: Routes[] = [];
    p.add({ record: { agentId: 'a', sent: undefined } as AgentRecord, send: (m: Routes) => void sent.push(m) }, 0);
    p.flush();
    expect(sent.map((m) => m.version)).toEqual([1]);

    services = {};
    for (let i = 0; i < 1000; i++) services[`hostile-${i}`] = { endpoints: [], policy: maglev };
    p.flush();
    p.flush();
    expect(p.version).toBe(1);
    expect(sent.map((m) => m.version)).toEqual([1]);
    expect(lines.filter((l) => l.includes('tableBudget.maxHashEntries (16777216)'))).toHaveLength(1);
    expect(lines[0]).toContain('MESHLET_TABLE_OVER_BUDGET');

    services = { hello: { endpoints: [] }, small: { endpoints: [], policy: maglev } };
    p.flush();
    expect(p.version).toBe(2);
    expect(sent.map((m) => m.version)).toEqual([1, 2]);
  });
});
