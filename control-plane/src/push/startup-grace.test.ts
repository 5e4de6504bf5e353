import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StartupGrace } from './startup-grace.js';

describe('StartupGrace', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('lasts graceMs, then calls end once', () => {
    const end = vi.fn();
    const grace = new StartupGrace({ clock: Date.now, graceMs: 1_000, end });
    vi.advanceTimersByTime(999);
    expect(grace.active()).toBe(true);
    expect(end).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(grace.active()).toBe(false);
    expect(end).toHaveBeenCalledTimes(1);
  });

  it('is over at once when graceMs is 0, without calling end', () => {
    const end = vi.fn();
    const grace = new StartupGrace({ clock: Date.now, graceMs: 0, end });
    expect(grace.active()).toBe(false);
    vi.runAllTimers();
    expect(end).not.toHaveBeenCalled();
  });

  it('ends by the clock even before its timer fires', () => {
    let now = 0;
    const grace = new StartupGrace({ clock: () => now, graceMs: 500, end: () => undefined });
    now = 500;
    expect(grace.active()).toBe(false);
    grace.cancel();
  });

  it('calls no end once cancelled', () => {
    const end = vi.fn();
    const grace = new StartupGrace({ clock: Date.now, graceMs: 1_000, end });
    grace.cancel();
    vi.advanceTimersByTime(2_000);
    expect(end).not.toHaveBeenCalled();
  });
});
