import { join } from 'node:path';
import type { Scratch } from './mesh.js';

/** The etcd lease of a test replica: a dead leader is replaced within about 2 s. */
export const LEASE_TTL_S = 2;

/**
 * Settings of control-plane replica `name` on the etcd at `endpoints`: its
 * own data dir in `scratch`, a {@link LEASE_TTL_S} lease, and a heartbeat
 * timeout (3 s) that gives the agents of a dead replica time to reconnect to
 * another before they count as gone.
 */
export function replicaSettings(
  scratch: Scratch,
  name: string,
  endpoints: string[],
  { requestTimeoutMs = 2000 } = {},
): Record<string, unknown> {
  return {
    store: { kind: 'etcd', etcd: { endpoints, requestTimeoutMs, leaseTtlSeconds: LEASE_TTL_S, replicaId: name } },
    dataDir: join(scratch.dir, `cp-${name}`),
    heartbeat: { timeoutMs: 3000, checkIntervalMs: 100 },
    // Each replica its own CA in memory, set explicitly (auto is a config error on etcd).
    identity: { ca: { source: 'memory' } },
  };
}
