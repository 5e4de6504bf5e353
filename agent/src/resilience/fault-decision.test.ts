import { seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { decideFault, NO_FAULT } from './fault-decision.js';

const DRAWS = 10_000;

function tally(policy: Parameters<typeof decideFault>[0], seed = 42) {
  const random = seededRandom(seed);
  let delayed = 0;
  let aborted = 0;
  let both = 0;
  for (let i = 0; i < DRAWS; i++) {
    const d = decideFault(policy, random);
    if (d.delayMs > 0) delayed++;
    if (d.abortStatus !== undefined) aborted++;
    if (d.delayMs > 0 && d.abortStatus !== undefined) both++;
  }
  return { delayed: (delayed / DRAWS) * 100, aborted: (aborted / DRAWS) * 100, both: (both / DRAWS) * 100 };
}

describe('decideFault', () => {
  it('returns the shared no-fault decision without drawing when there is no policy', () => {
    let draws = 0;
    const d = decideFault(undefined, () => (draws++, 0));
    expect(d).toBe(NO_FAULT);
    expect(d).toEqual({ delayMs: 0, abortStatus: undefined });
    expect(Object.isFrozen(d)).toBe(true);
    expect(draws).toBe(0);
  });

  it('delays and aborts about the given percentages of 10k requests, independently', () => {
    const t = tally({ delay: { percent: 10, ms: 250 }, abort: { percent: 5, status: 503 } });
    expect(Math.abs(t.delayed - 10)).toBeLessThan(1);
    expect(Math.abs(t.aborted - 5)).toBeLessThan(1);
    expect(Math.abs(t.both - 0.5)).toBeLessThan(0.3);
  });

  it('hands back the configured delay and status', () => {
    expect(decideFault({ delay: { percent: 100, ms: 250 }, abort: { percent: 100, status: 418 } }, () => 0.5)).toEqual({
      delayMs: 250,
      abortStatus: 418,
    });
    expect(decideFault({ abort: { percent: 100, status: 503 } }, () => 0.999999)).toEqual({
      delayMs: 0,
      abortStatus: 503,
    });
  });

  it('never faults at 0 % and always at 100 %', () => {
    expect(tally({ delay: { percent: 0, ms: 10 }, abort: { percent: 0, status: 503 } })).toEqual({
      delayed: 0,
      aborted: 0,
      both: 0,
    });
    expect(tally({ delay: { percent: 100, ms: 10 }, abort: { percent: 100, status: 503 } })).toEqual({
      delayed: 100,
      aborted: 100,
      both: 100,
    });
  });

  it('honours fractional percentages', () => {
    const t = tally({ abort: { percent: 0.5, status: 503 } }, 7);
    expect(t.aborted).toBeGreaterThan(0.3);
    expect(t.aborted).toBeLessThan(0.7);
  });

  it('returns the shared no-fault decision when no fault was drawn', () => {
    expect(decideFault({ delay: { percent: 50, ms: 10 }, abort: { percent: 50, status: 503 } }, () => 0.9)).toBe(
      NO_FAULT,
    );
    expect(decideFault({}, () => 0)).toBe(NO_FAULT);
  });
});
