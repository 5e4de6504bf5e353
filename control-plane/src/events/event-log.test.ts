import { describe, expect, it } from 'vitest';
import { EventLog } from './event-log.js';

describe('EventLog', () => {
  it('keeps the newest events up to its capacity, filters them, and tells listeners', () => {
    let now = 100;
    const log = new EventLog(3, () => now);
    const heard: number[] = [];
    const stop = log.subscribe((e) => heard.push(e.seq));
    for (let i = 0; i < 5; i++) {
      now++;
      log.add({ kind: i % 2 ? 'failover' : 'health', service: i < 4 ? 'a' : 'b', from: 'x', to: 'y', reason: `r${i}`, evidence: {} });
    }
    expect(log.list().map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(log.list()[0]).toMatchObject({ seq: 3, time: 103, reason: 'r2' });
    expect(log.list({ service: 'a' }).map((e) => e.seq)).toEqual([3, 4]);
    expect(log.list({ kind: 'failover' }).map((e) => e.seq)).toEqual([4]);
    expect(log.list({ afterSeq: 3 }).map((e) => e.seq)).toEqual([4, 5]);
    expect(log.list({ limit: 1 }).map((e) => e.seq)).toEqual([5]);
    expect(heard).toEqual([1, 2, 3, 4, 5]);
    stop();
    log.add({ kind: 'health', service: 'a', from: 'x', to: 'y', reason: '', evidence: {} });
    expect(heard).toHaveLength(5);
  });
});
