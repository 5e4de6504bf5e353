import type { CoordEvent, CoordResult } from '@meshlet/shared';

/** Who asks, as the control plane authenticated it (never what a message claims). */
export interface CoordIdentity {
  agentId: string;
  /** The agent's instance id (a client-only agent: its agent id). */
  instanceId: string;
  /** The service whose names it may use: its certificate's, else the admitted hello's; undefined: none. */
  service: string | undefined;
}

/** An agent's stream as the {@link Coordinator} sees it. */
export interface CoordPeer {
  readonly coordIdentity: CoordIdentity;
  sendCoord(message: CoordResult | CoordEvent): void;
}
