import type { AgentConfig, Health, Logger } from '@meshlet/shared';
import type { Pool } from 'undici';
import { createHealthCheck } from './create-health-check.js';
import { HealthMonitor } from './health-monitor.js';
import { HealthReporter } from './health-reporter.js';

/**
 * The agent's check of its instance, ready to start: the monitor (the
 * `LocalHealth` the failover reads) and what it reports. `report` is
 * called after every probe with the newest `health` message, and `send`
 * true when the control plane is to be told now (a change of status or
 * role, or the offset moved and a check interval has passed since the last
 * report).
 */
export function instanceHealthMonitor(
  instance: NonNullable<AgentConfig['instance']>,
  pool: Pool,
  log: Logger,
  clock: () => number,
  report: (health: Health, send: boolean) => void,
  env: NodeJS.ProcessEnv = process.env,
): HealthMonitor {
  const hc = instance.healthCheck;
  const monitor = new HealthMonitor({
    check: createHealthCheck(hc, instance.app, pool, { env, service: instance.service, instanceId: instance.id }),
    intervalMs: hc.intervalMs,
    healthyThreshold: hc.healthyThreshold,
    unhealthyThreshold: hc.unhealthyThreshold,
    log: log.child({ component: 'health' }),
  });
  const reporter = new HealthReporter({ intervalMs: hc.intervalMs, clock });
  monitor.onProbe((state) => {
    const now = reporter.observe(state);
    if (reporter.latest) report(reporter.latest, now !== undefined);
  });
  return monitor;
}
