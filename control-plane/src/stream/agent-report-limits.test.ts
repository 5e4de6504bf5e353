import { describe, expect, it } from 'vitest';
import { AgentReportLimits } from './agent-report-limits.js';

describe('AgentReportLimits', () => {
  it('keeps one bucket per agent id and forgets it once it would be full again', () => {
    const clock = { now: 0 };
    const limits = new AgentReportLimits({ rate: { perSecond: 2, burst: 2 }, clock: () => clock.now });
    expect(limits.tryTake('a')).toBe(true);
    expect(limits.tryTake('a')).toBe(true);
    expect(limits.tryTake('a')).toBe(false);
    expect(limits.tryTake('b')).toBe(true);
    expect(limits.size).toBe(2);
    clock.now += 1001; // 2 tokens at 2/s: full again, so forgotten at the next take
    expect(limits.tryTake('c')).toBe(true);
    expect(limits.size).toBe(1);
  });

  it('is bounded: past maxAgents the bucket idle longest goes', () => {
    const clock = { now: 0 };
    const limits = new AgentReportLimits({ rate: { perSecond: 1, burst: 1 }, clock: () => clock.now, maxAgents: 2 });
    for (const id of ['a', 'b', 'c']) limits.tryTake(id);
    expect(limits.size).toBe(2);
    expect(limits.tryTake('b')).toBe(false); // kept
    expect(limits.tryTake('a')).toBe(true); // dropped, a new full bucket
  });
});
