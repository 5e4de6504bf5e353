import type { AgentHandle, ControlPlaneHandle, Mesh } from './mesh.js';
import { waitFor } from './wait.js';

/** The admin token the admin-API test files configure. */
export const ADMIN = 'admin-token-0123456789abcdef';
/** The read-only token the admin-API test files configure. */
export const READER = 'reader-token-0123456789abcdef';

/** An admin API answer, its body parsed when it is JSON. */
export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

/** Calls the admin API of `cp` as `token` (the admin's by default; `null`: none), with `body` as JSON unless it is a string already. */
export async function api(
  cp: ControlPlaneHandle,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${cp.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (HTML, metrics)
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * Starts what the admin-API test files run against: a control plane with
 * `controlPlane` settings (the tokens among them), instances db-1 (tier 0)
 * and db-2 (tier 1), and a client that calls db; resolves once both db
 * instances are healthy, so that every file starts from the same state.
 */
export async function startDbMesh(
  mesh: Mesh,
  controlPlane: Record<string, unknown>,
): Promise<{ cp: ControlPlaneHandle; client: AgentHandle }> {
  const { cp, client } = await mesh.start({
    controlPlane,
    instances: {
      db: [
        { id: 'db-1', tier: 0 },
        { id: 'db-2', tier: 1 },
      ],
    },
    client: { calls: ['db'] },
  });
  await waitFor('both db instances healthy', async () => (await api(cp, 'GET', '/v1/services/db')).body.healthy === 2);
  return { cp, client };
}
