import { httpRequest } from './http.js';
import type { ControlPlaneHandle } from './mesh.js';

/** What an agent may be pointed at: a control plane the harness started, or only a stream URL (planned, or a scripted fake). */
type Target = { streamUrl: string } | ControlPlaneHandle;

/** The first of `targets` the harness started (it has an admin API to mint through), if any. */
export function mintingTarget(targets: readonly Target[]): ControlPlaneHandle | undefined {
  return targets.find((t): t is ControlPlaneHandle => 'proc' in t && 'port' in t);
}

/**
 * Mints a per-service join credential through `cp`'s admin API
 * (`POST /v1/join-credentials`), as an operator does with `meshctl token
 * create --service`, with the admin token the test configured, if any. Every
 * hello needs one, so the harness gives every agent one for its service
 * unless the test brings its own.
 */
export async function mintJoinCredential(cp: ControlPlaneHandle, service: string): Promise<string> {
  const auth = cp.config.auth as { adminToken?: string } | undefined;
  const a = await httpRequest(cp.port, '/v1/join-credentials', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(auth?.adminToken ? { authorization: `Bearer ${auth.adminToken}` } : {}),
    },
    body: JSON.stringify({ service }),
    ...(cp.url.startsWith('https:') ? { tls: { rejectUnauthorized: false } } : {}),
  });
  if (a.status !== 201) throw new Error(`minting a join credential for ${service} answered ${a.status}: ${a.body}`);
  return a.json().credential as string;
}
