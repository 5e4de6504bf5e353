import { describe, expect, it } from 'vitest';
import { EndpointStats, EndpointStatsMap } from './endpoint-stats.js';

describe('EndpointStats', () => {
  it('reports the default latency until the first observation, then the estimate', () => {
    const s = new EndpointStats(1000);
    expect(s.latency(0, 25)).toBe(25);
    s.observe(40, 0);
    expect(s.latency(0, 25)).toBe(40);
    expect(s.latency(1000, 25)).toBeCloseTo(40 * Math.exp(-1), 8);
  });

  it('uses its current decayMs, which a balancer may set', () => {
    const s = new EndpointStats();
    expect(s.decayMs).toBe(10_000);
    s.observe(100, 0);
    s.decayMs = 100;
    expect(s.latency(100, 0)).toBeCloseTo(100 * Math.exp(-1), 8);
  });

  it('counts requests in flight as the caller updates them', () => {
    const s = new EndpointStats();
    s.active++;
    s.active++;
    s.active--;
    expect(s.active).toBe(1);
  });
});

describe('EndpointStatsMap', () => {
  it('creates an entry on first use and returns the same one afterwards', () => {
    const m = new EndpointStatsMap();
    const a = m.get('a');
    a.active = 3;
    expect(m.get('a')).toBe(a);
    expect(m.get('b')).not.toBe(a);
    expect(m.size).toBe(2);
  });

  it('drops the entries of ids it is not told to retain', () => {
    const m = new EndpointStatsMap();
    const a = m.get('a');
    m.get('b').active = 5;
    m.retain(new Set(['a', 'zzz']));
    expect(m.size).toBe(1);
    expect(m.get('a')).toBe(a);
    expect(m.get('b').active).toBe(0);
  });

  it('gives new entries the decay time it was built with', () => {
    expect(new EndpointStatsMap({ decayMs: 250 }).get('a').decayMs).toBe(250);
    expect(new EndpointStatsMap().get('a').decayMs).toBe(10_000);
  });
});
