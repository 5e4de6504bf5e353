#!/usr/bin/env node
import { AgentConfig, createLogger, loadConfig, MeshletError, renderHelp } from '@meshlet/shared';
import { Agent } from './agent.js';

const BINARY = 'meshlet-agent';

async function main(): Promise<number> {
  let loaded: ReturnType<typeof loadConfig<typeof AgentConfig>>;
  try {
    loaded = loadConfig(AgentConfig, { argv: process.argv.slice(2), env: process.env });
  } catch (e) {
    if (e instanceof MeshletError) {
      process.stderr.write(`${BINARY}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(`${renderHelp(BINARY, AgentConfig)}\n`);
    return 0;
  }
  const config = loaded.config;
  const log = createLogger(BINARY, config.log.level).child({ agentId: config.agentId });
  const agent = new Agent(config, log);
  try {
    await agent.start();
  } catch (e) {
    log.fatal({ err: e }, 'agent failed to start');
    process.stderr.write(`${BINARY}: ${(e as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down');
      // A stuck connection must not keep a stopping process alive forever.
      setTimeout(() => process.exit(1), 10_000).unref();
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await agent.stop();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${BINARY}: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
