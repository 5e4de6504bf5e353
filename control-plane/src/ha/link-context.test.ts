import { createLogger } from '@meshlet/shared';
import type { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LinkContext, liveKeys } from './link-context.js';

const context = (requestTimeoutMs = 1_000) =>
  new LinkContext({
    client: {} as Etcd3,
    prefix: '/m/',
    replicaId: 'A',
    requestTimeoutMs,
    log: createLogger('test', 'silent'),
    clock: () => 0,
  });

afterEach(() => {
  vi.useRealTimers();
});

describe('LinkContext', () => {
  it("keeps the link's keys under the store's prefix", () => {
    expect(liveKeys('/m/')).toEqual({
      live: '/m/live/',
      agents: '/m/live/agents/',
      signals: '/m/live/signals/',
      table: '/m/live/table',
      events: '/m/live/events',
      election: '/m/election/leader/',
    });
  });

  it('tries again after a second, and not once the link has closed', () => {
    vi.useFakeTimers();
    const ctx = context();
    const runs: string[] = [];
    ctx.later(() => runs.push('first'));
    vi.advanceTimersByTime(999);
    expect(runs).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(runs).toEqual(['first']);
    ctx.later(() => runs.push('dropped'));
    ctx.close();
    ctx.later(() => runs.push('after close'));
    vi.advanceTimersByTime(5_000);
    expect(runs).toEqual(['first']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('bounds an etcd call by the request timeout', async () => {
    const ctx = context(20);
    await expect(ctx.bounded(new Promise(() => undefined))).rejects.toThrow('no answer from etcd within 20 ms');
    await expect(ctx.bounded(Promise.resolve(7))).resolves.toBe(7);
  });
});
