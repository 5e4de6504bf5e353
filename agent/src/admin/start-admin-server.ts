import { isIP, type AddressInfo } from 'node:net';
import type { AgentConfig, Logger } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { AGENT_LISTENERS, guardListener } from '../listener/guard-listener.js';
import type { AgentMetrics } from '../metrics.js';
import { type AdminState, createAdminServer } from './admin-server.js';

/** What {@link startAdminServer} needs besides the config: the state the endpoints report on, minus what the config says. */
export type AgentAdminState = Omit<AdminState, 'agentId' | 'allowedHosts' | 'metrics'>;

/**
 * Builds the agent's admin server from its config and state, guards its
 * listener (connection limits) and binds it on `listeners.admin`. The host
 * names it answers to are the listen host (when a name) and
 * `listeners.admin.allowedHosts`. Resolves to the server and its bound port.
 */
export async function startAdminServer(
  config: AgentConfig,
  state: AgentAdminState,
  metrics: AgentMetrics,
  log: Logger,
): Promise<{ app: FastifyInstance; port: number }> {
  const admin = config.listeners.admin;
  const app = createAdminServer(
    {
      ...state,
      agentId: config.agentId,
      metrics: metrics.registry,
      allowedHosts: [...(isIP(admin.host) ? [] : [admin.host]), ...admin.allowedHosts],
    },
    log,
  );
  guardListener(app.server, admin.limits, AGENT_LISTENERS.admin, metrics);
  await app.listen({ host: admin.host, port: admin.port });
  return { app, port: (app.server.address() as AddressInfo).port };
}
