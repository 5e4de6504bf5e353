/**
 * The agent binary's body: config loaded, checked and the agent started
 * (main.ts imports this once V8's flags are set).
 */
import { AgentConfig, main } from '@meshlet/shared';
import { Agent } from './agent.js';
import { agentServiceIssues } from './control/agent-service.js';
import { controlPlaneUrlIssues, warnPlaintextRemote } from './control/control-plane-urls.js';

main({
  name: 'meshlet-agent',
  schema: AgentConfig,
  check: (config) => [...controlPlaneUrlIssues(config.controlPlane), ...agentServiceIssues(config)],
  logFields: (config) => ({ agentId: config.agentId }),
  start: async (config, log) => {
    warnPlaintextRemote(config.controlPlane, log);
    const agent = new Agent(config, log);
    await agent.start();
    return agent;
  },
});
