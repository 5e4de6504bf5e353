import { seededRandom } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import { UrlRotation } from './url-rotation.js';

const urls = ['ws://a/v1/stream', 'ws://b/v1/stream', 'ws://c/v1/stream'];

describe('UrlRotation', () => {
  it('starts at the index the random source picks', () => {
    expect(new UrlRotation(urls, () => 0).current).toBe('ws://a/v1/stream');
    expect(new UrlRotation(urls, () => 0.5).current).toBe('ws://b/v1/stream');
    expect(new UrlRotation(urls, () => 0.999999).current).toBe('ws://c/v1/stream');
  });

  it('walks the list in order and wraps around, naming both URLs of each move', () => {
    const r = new UrlRotation(urls, () => 0.5);
    expect(r.advance()).toEqual({ from: 'ws://b/v1/stream', to: 'ws://c/v1/stream' });
    expect(r.advance()).toEqual({ from: 'ws://c/v1/stream', to: 'ws://a/v1/stream' });
    expect(r.advance()).toEqual({ from: 'ws://a/v1/stream', to: 'ws://b/v1/stream' });
  });

  it('stays on a single URL', () => {
    const r = new UrlRotation(['ws://only/v1/stream'], () => 0.7);
    expect(r.advance()).toEqual({ from: 'ws://only/v1/stream', to: 'ws://only/v1/stream' });
  });

  it('spreads a fleet over the replicas', () => {
    const random = seededRandom(7);
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const at = new UrlRotation(urls, random).current;
      counts.set(at, (counts.get(at) ?? 0) + 1);
    }
    for (const u of urls) expect(counts.get(u)).toBeGreaterThan(850);
  });

  it('refuses an empty list', () => {
    expect(() => new UrlRotation([], () => 0)).toThrow(RangeError);
  });
});
