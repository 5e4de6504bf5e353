// Types of meshlet-path.mjs, kill-run.mjs and the scratch they run in, for the database proofs (test/databases/).
import type { WriterAck } from './db-writer.mjs';

/** One PostgreSQL instance of the pair. */
export interface PgNode {
  name: string;
  host: string;
  port: number;
  dataDir: string;
  proc: { pid: number; exitCode: number | null; exited: Promise<unknown> };
}

/** The fork of the promoted node's timeline: where and when the new term began. */
export interface TimelineFork {
  timeline: number;
  parentTimeline: number;
  forkLsn: string;
  promotedAt: number;
}

/** What a run found on the final primary and in the deposed primary's WAL. */
export interface Verdict {
  failedOver: boolean;
  lost: number;
  staleAcked: number;
  staleWal: number;
  inFlight: number;
  fork?: TimelineFork;
}

/** GET /v1/services/pg/failover: the state in the tables and each instance's standing. */
export interface FailoverDescription {
  state: { term: number; holder?: string; primary?: string; candidates: string[]; switchoverTo?: string };
  instances: Array<{
    id: string;
    role?: string;
    checkHealthy?: boolean;
    replicationOffset?: number;
    lagBytes?: number;
  }>;
  events?: unknown[];
}

/** The run's control plane (meshlet-mesh.mjs). */
export interface MeshletControlPlane {
  url: string;
  streamUrl: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

/** The meshlet path (see meshlet-path.mjs). */
export interface MeshletPath {
  db: 'postgres';
  cp: MeshletControlPlane;
  pair: {
    nodes: PgNode[];
    conn(n: PgNode): { host: string; port: number };
    isPrimary(n: PgNode): Promise<boolean>;
    primary(): Promise<PgNode | undefined>;
  };
  agents: Map<string, { id: string; proc: { pid: number } }>;
  failoverState(): Promise<FailoverDescription>;
  writerOptions(): { host: string; port: number };
  ready(): Promise<PgNode>;
  kill(node: PgNode): Promise<void>;
  leader(): Promise<PgNode>;
  verify(o: { before: PgNode; after: PgNode; acks: WriterAck[]; lo: number; hi: number }): Promise<Verdict>;
  reset(o: { before: PgNode; after: PgNode }): Promise<void>;
  stop(): Promise<void>;
}

/** Where a node runs: its address, and the command wrapper that puts it there (a network namespace). */
export type Place = (
  name: string,
) => { host: string; wrap?: (command: string, args: readonly string[]) => [string, string[]] } | undefined;

/** Instance id of a node (`pg_1` → `pg-1`). */
export declare function instanceId(node: PgNode): string;

/** Starts the meshlet path in `ctx`. */
export declare function meshletPath(
  ctx: { group: unknown; dir: string; log: (s: string) => void },
  settings: 'defaults' | 'tuned',
  options?: { place?: Place },
): Promise<MeshletPath>;
