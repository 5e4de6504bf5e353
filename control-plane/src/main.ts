#!/usr/bin/env node
import {
  ConfigError,
  ControlPlaneConfig,
  createLogger,
  loadConfig,
  MeshletError,
  renderHelp,
} from '@meshlet/shared';
import { ControlPlane, checkSecurity } from './control-plane.js';

const BINARY = 'meshlet-control-plane';

async function main(): Promise<number> {
  let loaded: ReturnType<typeof loadConfig<typeof ControlPlaneConfig>>;
  try {
    loaded = loadConfig(ControlPlaneConfig, { argv: process.argv.slice(2), env: process.env });
    if (loaded.help) {
      process.stdout.write(`${renderHelp(BINARY, ControlPlaneConfig)}\n`);
      return 0;
    }
    const issues = checkSecurity(loaded.config);
    if (issues.length > 0) throw new ConfigError(loaded.file ?? 'environment and flags', issues);
  } catch (e) {
    if (e instanceof MeshletError) {
      process.stderr.write(`${BINARY}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const config = loaded.config;
  const log = createLogger(BINARY, config.log.level);
  const cp = new ControlPlane(config, log);
  try {
    await cp.start();
  } catch (e) {
    log.fatal({ err: e }, 'control plane failed to start');
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
  await cp.stop();
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
