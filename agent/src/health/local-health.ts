import type { InstanceRole } from '@meshlet/shared';

/** The local app's state as the agent's check sees it, thresholds applied to health. */
export interface LocalHealthState {
  status: 'unknown' | 'healthy' | 'unhealthy';
  /** The last probe's detail. */
  detail: string;
  /** The role of the last passing probe; absent: none reported (or the app is down). */
  role?: InstanceRole | undefined;
  replicationOffset?: number | undefined;
  /** Whether the last probe passed (the role and offset may be kept from an earlier one while it did not). */
  lastProbeOk?: boolean | undefined;
}

/**
 * What the managed failover reads of the agent's check: it waits for the
 * check to report `primary` after a promote, and resigns when the app fails.
 */
export interface LocalHealth {
  current(): LocalHealthState;
  /** Called on every change of status or role (not of the offset alone); returns a function that stops it. */
  onChange(listener: (state: LocalHealthState) => void): () => void;
  /** Probes now, out of turn (never two probes at once), and resolves with the state after it. */
  probeNow(): Promise<LocalHealthState>;
}
