import { describe, expect, it } from 'vitest';
import { EventLog, type MeshEvent } from './event-log.js';

describe('EventLog', () => {
  it('keeps the newest events up to its capacity, filters them, and tells listeners', () => {
    let now = 100;
    const log = new EventLog(3, () => now);
    const heard: number[] = [];
    const stop = log.subscribe((e) => heard.push(e.seq));
    for (let i = 0; i < 5; i++) {
      now++;
      log.add({
        kind: i % 2 ? 'failover' : 'health',
        service: i < 4 ? 'a' : 'b',
        from: 'x',
        to: 'y',
        reason: `r${i}`,
        evidence: {},
      });
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

// Events decided elsewhere (a follower replica holds the leader's decisions),
// with their own sequence numbers and times; listeners are told they were inserted.

/** A decision as the leader published it. */
const decided = (seq: number, time: number, over: Partial<MeshEvent> = {}): MeshEvent => ({
  seq,
  time,
  kind: 'failover',
  service: 'orders',
  from: 'tier-0',
  to: 'tier-1',
  reason: `decision ${seq}`,
  evidence: { tiers: [] },
  ...over,
});

const decision = {
  kind: 'health',
  service: 'orders',
  instance: 'o-1',
  from: 'healthy',
  to: 'unhealthy',
  reason: 'local',
  evidence: {},
} as const;

describe("EventLog: adopting another replica's decisions", () => {
  it("keeps the adopted event's seq and time, and tells listeners it was adopted", () => {
    const log = new EventLog(10, () => 100);
    const heard: Array<[number, boolean]> = [];
    log.subscribe((e, adopted) => heard.push([e.seq, adopted]));
    expect(log.lastSeq).toBe(0);

    const e = decided(7, 55_000);
    expect(log.insert(e)).toBe(true);
    expect(log.list()).toEqual([decided(7, 55_000)]);
    expect(log.lastSeq).toBe(7);
    expect(heard).toEqual([[7, true]]);

    // An event added here is not adopted.
    log.add(decision);
    expect(heard).toEqual([
      [7, true],
      [8, false],
    ]);
  });

  it('ignores an event it already holds or an older one', () => {
    const log = new EventLog(10, () => 100);
    const heard: number[] = [];
    log.subscribe((e) => heard.push(e.seq));
    log.insert(decided(5, 1_000));
    log.insert(decided(6, 2_000));
    expect(log.insert(decided(6, 9_999, { reason: 'again' }))).toBe(false);
    expect(log.insert(decided(3, 500))).toBe(false);
    expect(log.list().map((e) => [e.seq, e.time, e.reason])).toEqual([
      [5, 1_000, 'decision 5'],
      [6, 2_000, 'decision 6'],
    ]);
    expect(log.lastSeq).toBe(6);
    expect(heard).toEqual([5, 6]);
  });

  it('numbers events added after adopting on from the adopted seq, stamped with its own clock', () => {
    let now = 100;
    const log = new EventLog(10, () => now);
    log.add(decision);
    expect(log.lastSeq).toBe(1);
    // The leader is ahead (a follower that becomes leader): a gap in seq is fine.
    log.insert(decided(40, 50));
    now = 200;
    const mine = log.add(decision);
    expect(mine).toMatchObject({ seq: 41, time: 200 });
    expect(log.lastSeq).toBe(41);
    // What comes after it from elsewhere with a seq it has already used is ignored.
    expect(log.insert(decided(41, 300))).toBe(false);
    expect(log.insert(decided(42, 300))).toBe(true);
    expect(log.list().map((e) => e.seq)).toEqual([1, 40, 41, 42]);
    expect(log.list({ afterSeq: 40 }).map((e) => e.seq)).toEqual([41, 42]);
  });

  it('keeps adopted events in the same bounded ring as its own', () => {
    const log = new EventLog(2, () => 0);
    for (const seq of [1, 2, 3]) log.insert(decided(seq, seq * 10));
    expect(log.list().map((e) => e.seq)).toEqual([2, 3]);
    log.add(decision);
    expect(log.list().map((e) => e.seq)).toEqual([3, 4]);
  });
});
