import { getJson } from './http.js';
import type { ControlPlaneHandle } from './mesh.js';

/** A control plane's `GET /v1/cluster`: its role and the leader it names. */
export interface Cluster {
  replicaId: string;
  role: string;
  leader: { replicaId: string; url: string } | null;
}

/** What `cp` says of its cluster. */
export const cluster = async (cp: ControlPlaneHandle): Promise<Cluster> =>
  (await getJson(cp.port, '/v1/cluster')) as Cluster;

/** The agents connected to `cp` itself (not those it lists from other replicas), sorted by id. */
export const connectedIds = async (cp: ControlPlaneHandle): Promise<string[]> =>
  (
    (await getJson(cp.port, '/v1/agents')).agents as Array<{
      agentId: string;
      connected: boolean;
      replica: string | null;
    }>
  )
    .filter((a) => a.connected && a.replica === null)
    .map((a) => a.agentId)
    .sort();
