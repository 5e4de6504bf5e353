import type { AgentConfig, Logger } from '@meshlet/shared';
import type { CoordClient } from '../coordination/coord-client.js';
import type { LocalHealth } from '../health/local-health.js';
import type { AgentMetrics } from '../metrics.js';
import type { RouteTable } from '../route/route-table.js';
import { FailoverManager } from './failover-manager.js';
import { commandRunner } from './run-command.js';

/** Whether the agent's health monitor offers what the managed failover reads of the check. */
function isLocalHealth(x: unknown): x is LocalHealth {
  const h = x as Partial<LocalHealth> | undefined;
  return typeof h?.current === 'function' && typeof h.onChange === 'function' && typeof h.probeNow === 'function';
}

/**
 * The agent's managed failover, started: for an instance with
 * `instance.failover`, over the agent's coordination client, its check, and
 * its own service's policy and failover state in the table in force (it acts
 * only while that policy is `managed`). Undefined without `instance.failover`.
 */
export function agentFailover(o: {
  config: Pick<AgentConfig, 'instance' | 'agentId'>;
  health: unknown;
  client: CoordClient;
  table: () => RouteTable | undefined;
  clock: () => number;
  log: Logger;
  metrics: Pick<AgentMetrics, 'failoverCommands'>;
}): FailoverManager | undefined {
  const instance = o.config.instance;
  if (instance?.failover === undefined) return undefined;
  const log = o.log.child({ component: 'failover' });
  if (!isLocalHealth(o.health)) {
    log.error('instance.failover needs a health check that reports a role; managed failover is off for this agent');
    return undefined;
  }
  const service = instance.service;
  const run = commandRunner(log);
  const manager = new FailoverManager({
    service,
    instance: instance.id ?? o.config.agentId,
    config: instance.failover,
    client: o.client,
    health: o.health,
    table: () => {
      const routes = o.table()?.routes.services[service];
      const policy = routes?.policy?.failover;
      return { policy: policy?.mode === 'managed' ? policy : undefined, state: routes?.failover };
    },
    run: async (what, command, env, signal) => {
      const out = await run(what, command, env, signal);
      o.metrics.failoverCommands.inc({ command: what, result: out.ok ? 'ok' : 'failed' });
      return out;
    },
    clock: o.clock,
    log,
  });
  manager.start();
  return manager;
}
