import { setFlagsFromString } from 'node:v8';

/** The environment variable holding V8 flags the agent sets on itself at start. */
export const AGENT_V8_FLAGS_ENV = 'MESHLET_AGENT_V8_FLAGS';

/**
 * Applies the V8 flags in `env.MESHLET_AGENT_V8_FLAGS` (none when unset or
 * empty), for flags that Node refuses in `NODE_OPTIONS`, such as
 * `--optimize-for-size`: with it an agent's idle RSS falls by about a quarter
 * (137 to 104 MiB) but a request costs 10 to 40% more CPU, so it is the
 * operator's choice, not the default (docs/benchmarks.md, "Agent memory
 * (issue 20)"; docs/configuration.md). Must run before the agent's modules
 * load, which is why main.ts imports nothing else statically. Flags that size
 * the heap when it is created (`--max-semi-space-size`,
 * `--max-old-space-size`) do not take effect here: they go in `NODE_OPTIONS`.
 * Returns the flags applied.
 */
export function applyAgentV8Flags(env: NodeJS.ProcessEnv): string {
  const flags = (env[AGENT_V8_FLAGS_ENV] ?? '').trim();
  if (flags !== '') setFlagsFromString(flags);
  return flags;
}
