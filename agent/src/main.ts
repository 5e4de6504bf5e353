#!/usr/bin/env node
import { AgentConfig, main } from '@meshlet/shared';
import { Agent } from './agent.js';

main({
  name: 'meshlet-agent',
  schema: AgentConfig,
  logFields: (config) => ({ agentId: config.agentId }),
  start: async (config, log) => {
    const agent = new Agent(config, log);
    await agent.start();
    return agent;
  },
});
