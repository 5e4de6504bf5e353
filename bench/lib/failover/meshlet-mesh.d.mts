// Types of meshlet-mesh.mjs, for the database proofs (test/databases/).
import type { MeshletControlPlane, Place } from './meshlet-path.mjs';

/** The run's shared join token and admin token. */
export declare const JOIN: string;
export declare const ADMIN: string;

/** Starts a control plane with `services` (policies by name); waits until it answers. */
export declare function startMeshletControlPlane(
  ctx: { group: unknown; dir: string },
  o: { services: Record<string, unknown>; place?: Place; extra?: Record<string, unknown> },
): Promise<MeshletControlPlane & { proc: { pid: number; exitCode: number | null } }>;

/** Starts agent `id` on `cp` with `config` merged over its listeners, control plane and data dir. */
export declare function startMeshletAgent(
  ctx: { group: unknown; dir: string },
  cp: MeshletControlPlane,
  id: string,
  config: Record<string, unknown>,
  o?: { place?: Place; node?: string },
): Promise<{ id: string; file: string; proc: { pid: number; exitCode: number | null } }>;
