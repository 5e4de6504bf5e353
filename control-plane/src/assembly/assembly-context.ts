import type { Clock, ControlPlaneConfig, Logger } from '@meshlet/shared';
import type { Replication } from '../ha/replication.js';
import type { ControlPlaneMetrics } from '../metrics.js';
import type { RecentConvergences } from '../push/recent-convergences.js';
import type { Store } from '../store/store.js';
import type { AgentSession } from '../stream/agent-session.js';

/** What the control plane makes once and passes down to the parts and the routes. */
export interface AssemblyContext {
  config: ControlPlaneConfig;
  log: Logger;
  clock: Clock;
  store: Store;
  metrics: ControlPlaneMetrics;
  replication: Replication;
  /** This control plane's agent streams, by agent id. */
  sessions: Map<string, AgentSession>;
  convergences: RecentConvergences;
}
