import { createLogger } from '@meshlet/shared';
import { describe, expect, it } from 'vitest';
import type { HealthCheck, ProbeResult } from './health-check.js';
import { HealthMonitor } from './health-monitor.js';
import type { LocalHealthState } from './local-health.js';
import { HealthReporter } from './health-reporter.js';

/** A check that answers what the test queues, and counts probes running at once. */
class ScriptedCheck implements HealthCheck {
  readonly results: ProbeResult[] = [];
  running = 0;
  maxRunning = 0;
  async probe(): Promise<ProbeResult> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise((r) => setImmediate(r));
    this.running--;
    return this.results.shift() ?? { ok: true, detail: 'default' };
  }
}

const log = createLogger('test', 'silent');

describe('HealthMonitor', () => {
  it('keeps the role while healthy, drops it when unhealthy, tells listeners of status and role changes only', async () => {
    const check = new ScriptedCheck();
    const m = new HealthMonitor({ check, intervalMs: 60_000, healthyThreshold: 1, unhealthyThreshold: 2, log });
    const changes: LocalHealthState[] = [];
    m.onChange((s) => changes.push(s));
    check.results.push(
      { ok: true, detail: 'a', role: 'replica', replicationOffset: 10 },
      { ok: true, detail: 'b', role: 'replica', replicationOffset: 20 },
      { ok: false, detail: 'c' },
      { ok: false, detail: 'd' },
      { ok: true, detail: 'e', role: 'primary', replicationOffset: 30 },
    );
    const states = [];
    for (let i = 0; i < 5; i++) states.push(await m.probeNow());
    expect(states.map((s) => [s.status, s.role, s.replicationOffset])).toEqual([
      ['healthy', 'replica', 10],
      ['healthy', 'replica', 20],
      ['healthy', 'replica', 20],
      ['unhealthy', undefined, 20],
      ['healthy', 'primary', 30],
    ]);
    expect(changes.map((s) => s.detail)).toEqual(['a', 'd', 'e']);
    m.stop();
  });

  it('never runs two probes at once, scheduled or out of turn', async () => {
    const check = new ScriptedCheck();
    const m = new HealthMonitor({ check, intervalMs: 1, healthyThreshold: 1, unhealthyThreshold: 1, log });
    m.start();
    await Promise.all(Array.from({ length: 20 }, () => m.probeNow()));
    m.stop();
    expect(check.maxRunning).toBe(1);
  });
});

describe('HealthReporter', () => {
  it('sends every change of status or role, and a moving offset at most once per interval', () => {
    let now = 0;
    const r = new HealthReporter({ intervalMs: 1_000, clock: () => now });
    expect(r.observe({ status: 'unknown', detail: '' })).toBeUndefined();
    expect(r.observe({ status: 'healthy', detail: 'x', role: 'replica', replicationOffset: 1 })).toMatchObject({
      role: 'replica',
      replicationOffset: 1,
    });
    now = 400;
    expect(r.observe({ status: 'healthy', detail: 'x', role: 'replica', replicationOffset: 2 })).toBeUndefined();
    now = 1_000;
    expect(r.observe({ status: 'healthy', detail: 'x', role: 'replica', replicationOffset: 3 })).toMatchObject({
      replicationOffset: 3,
    });
    now = 1_100;
    // A role change goes at once, whatever the interval.
    expect(r.observe({ status: 'healthy', detail: 'x', role: 'primary', replicationOffset: 4 })).toMatchObject({
      role: 'primary',
    });
    now = 5_000;
    // Not moving: nothing.
    expect(r.observe({ status: 'healthy', detail: 'x', role: 'primary', replicationOffset: 4 })).toBeUndefined();
    expect(r.latest).toMatchObject({ type: 'health', status: 'healthy', role: 'primary', replicationOffset: 4 });
  });
});
