import { getJson } from './http.js';
import type { AgentHandle } from './mesh.js';

/** The routing table an agent holds, from its admin `/config`. */
export async function agentTable(agent: AgentHandle): Promise<{
  version: number;
  source: string;
  services: Record<
    string,
    {
      endpoints: Array<{ id: string; health?: string }>;
      activeTier?: number;
      ring?: { version: number; members: Array<{ id: string }> };
    }
  >;
} | null> {
  return (await getJson(agent.adminPort, '/config')).table;
}

/** Ids of the healthy endpoints of `service` in the agent's table (unhealthy ones stay listed, marked). */
export async function endpointIds(agent: AgentHandle, service: string): Promise<string[]> {
  const t = await agentTable(agent);
  return (t?.services[service]?.endpoints ?? [])
    .filter((e) => (e.health ?? 'healthy') === 'healthy')
    .map((e) => e.id)
    .sort();
}
