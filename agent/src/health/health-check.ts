import type { InstanceRole } from '@meshlet/shared';

/** The outcome of one probe of the local app. */
export interface ProbeResult {
  ok: boolean;
  /** Why it failed, or what it saw. */
  detail: string;
  /** The role the probe saw (database kinds, `exec`, HTTP role paths); absent: the check has none. */
  role?: InstanceRole | undefined;
  /** How far the instance's replication stream has got, in bytes (see the `health` message); absent: unknown. */
  replicationOffset?: number | undefined;
}

/** One kind of active check of the local app (HTTP, gRPC, TCP, exec, PostgreSQL, Redis), over one interface. */
export interface HealthCheck {
  probe(): Promise<ProbeResult>;
  /** Releases what the check keeps between probes (a connection), when the monitor stops. */
  close?(): void;
}
