import type { AgentConfig, Logger, RandomSource } from '@meshlet/shared';
import { clientService } from './agent-service.js';
import { ControlClient, type ControlClientOptions } from './control-client.js';
import { controlPlaneUrls } from './control-plane-urls.js';
import { instanceInfo } from './instance-info.js';
import { readCaFile } from './tls-trust.js';

/** What the agent hands its control client besides the config: its state and what acts on the stream's messages. */
export type AgentStreamHooks = Pick<
  ControlClientOptions,
  'tableVersion' | 'health' | 'upstreams' | 'applyRoutes' | 'coordination' | 'onConnection' | 'certificates'
> & {
  /** The inbound listener's bound port, once known (the instance advertised in each hello). */
  inboundPort: () => number | undefined;
  log: Logger;
  random: RandomSource;
  clock: () => number;
};

/**
 * The agent's {@link ControlClient}, its options read from the config's
 * `controlPlane` settings (URLs, join token, CA file, heartbeat and
 * reconnect timing, message limit) and `hooks`.
 */
export async function createAgentControlClient(c: AgentConfig, hooks: AgentStreamHooks): Promise<ControlClient> {
  const { inboundPort, ...rest } = hooks;
  return new ControlClient({
    ...rest,
    urls: controlPlaneUrls(c.controlPlane),
    agentId: c.agentId,
    joinToken: c.controlPlane.joinToken,
    service: clientService(c),
    ca: c.controlPlane.caFile === undefined ? undefined : await readCaFile(c.controlPlane.caFile),
    instance: (streamLocal) => instanceInfo(c, inboundPort(), streamLocal),
    heartbeatIntervalMs: c.controlPlane.heartbeatIntervalMs,
    reconnectInitialDelayMs: c.controlPlane.reconnectInitialDelayMs,
    reconnectMaxDelayMs: c.controlPlane.reconnectMaxDelayMs,
    maxMessageBytes: c.controlPlane.maxMessageBytes,
  });
}
