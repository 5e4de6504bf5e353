import { describe, expect, it } from 'vitest';
import { parseDuration } from './parse-duration.js';

describe('parseDuration', () => {
  it('reads Go-style durations', () => {
    expect(parseDuration('720h')).toBe(720 * 3_600_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1500ms')).toBe(1500);
  });
  it('refuses anything else', () => {
    for (const bad of ['', '720', '1.5h', '-1h', '0h', 'h', '3w', '1h ', ' 1h'])
      expect(parseDuration(bad)).toBeUndefined();
  });
});
