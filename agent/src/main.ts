#!/usr/bin/env node
// The agent binary. V8 flags from MESHLET_AGENT_V8_FLAGS are set first,
// before any of the agent's modules load (a static import would load them
// before this body runs), so that the heap they build is already shaped by
// them.
import { applyAgentV8Flags } from './apply-agent-v8-flags.js';

applyAgentV8Flags(process.env);
await import('./run-agent.js');
