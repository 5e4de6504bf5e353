import { httpRequest } from './http.js';
import type { ControlPlaneHandle } from './mesh.js';
import { waitFor } from './wait.js';

/** What an agent may be pointed at: a control plane the harness started, or only a stream URL (planned, or a scripted fake). */
type Target = { streamUrl: string } | ControlPlaneHandle;

/** The first of `targets` the harness started (it has an admin API to mint through), if any. */
export function mintingTarget(targets: readonly Target[]): ControlPlaneHandle | undefined {
  return targets.find(isStarted);
}

/** Whether `t` is a control plane the harness started (not only a stream URL). */
function isStarted(t: Target): t is ControlPlaneHandle {
  return 'proc' in t && 'port' in t;
}

/** The admin API request options of `cp`: its admin token, if any, and TLS without verification for https. */
function adminOptions(cp: ControlPlaneHandle): {
  headers: Record<string, string>;
  tls?: { rejectUnauthorized: false };
} {
  const auth = cp.config.auth as { adminToken?: string } | undefined;
  return {
    headers: auth?.adminToken ? { authorization: `Bearer ${auth.adminToken}` } : {},
    ...(cp.url.startsWith('https:') ? { tls: { rejectUnauthorized: false } } : {}),
  };
}

/** Whether `cp` lists the join credential `id` (`GET /v1/join-credentials`). */
async function lists(cp: ControlPlaneHandle, id: string): Promise<boolean> {
  const a = await httpRequest(cp.port, '/v1/join-credentials', adminOptions(cp));
  if (a.status !== 200) return false;
  return (a.json().items as Array<{ id: string }>).some((c) => c.id === id);
}

/**
 * Mints a per-service join credential through `cp`'s admin API
 * (`POST /v1/join-credentials`), as an operator does with `meshctl token
 * create --service`, with the admin token the test configured, if any. Every
 * hello needs one, so the harness gives every agent one for its service
 * unless the test brings its own. Then waits (with a deadline) until every
 * running control plane of `reachable` (those the agent may connect to; `cp`
 * by default) lists it: replicas learn it through etcd, and an agent with
 * several URLs must not meet one that has not seen it yet.
 */
export async function mintJoinCredential(
  cp: ControlPlaneHandle,
  service: string,
  reachable: readonly Target[] = [cp],
): Promise<string> {
  const options = adminOptions(cp);
  const a = await httpRequest(cp.port, '/v1/join-credentials', {
    ...options,
    method: 'POST',
    headers: { ...options.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ service }),
  });
  if (a.status !== 201) throw new Error(`minting a join credential for ${service} answered ${a.status}: ${a.body}`);
  const { id, credential } = a.json() as { id: string; credential: string };
  for (const replica of reachable)
    if (isStarted(replica) && replica.proc.running)
      await waitFor(`${replica.url} to list join credential ${id} (${service})`, () => lists(replica, id));
  return credential;
}
