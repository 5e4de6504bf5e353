import type { Static, TSchema } from '@sinclair/typebox';
import { MeshletError, type ValidationIssue, ConfigError } from './errors.js';
import { loadConfig, renderHelp } from './config/load-config.js';
import { createLogger, type Logger } from './logger.js';

/** What a binary's `start` returns: a way to stop it cleanly. */
export interface Running {
  stop(): Promise<void>;
}

/** How a meshlet binary is put together. */
export interface BinarySpec<T extends TSchema> {
  /** Program name, used in messages and logs. */
  name: string;
  schema: T;
  /** Checks that a schema cannot express; issues make the binary exit 2. */
  check?: (config: Static<T>) => ValidationIssue[];
  /** Child-logger fields, such as the agent id. */
  logFields?: (config: Static<T>) => Record<string, unknown>;
  start: (config: Static<T>, log: Logger) => Promise<Running>;
}

/**
 * The life of a meshlet binary: load and validate the config (exit 2 with
 * every bad field named), start, wait for SIGTERM or SIGINT, stop cleanly.
 * Resolves with the exit code.
 */
export async function runBinary<T extends TSchema>(
  spec: BinarySpec<T>,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  let config: Static<T>;
  let file: string | undefined;
  try {
    const loaded = loadConfig(spec.schema, { argv, env });
    if (loaded.help) {
      process.stdout.write(`${renderHelp(spec.name, spec.schema)}\n`);
      return 0;
    }
    config = loaded.config as Static<T>;
    file = loaded.file;
    const issues = spec.check?.(config) ?? [];
    if (issues.length > 0) throw new ConfigError(file ?? 'environment and flags', issues);
  } catch (e) {
    if (e instanceof MeshletError) {
      process.stderr.write(`${spec.name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const level = (config as { log?: { level?: string } }).log?.level ?? 'info';
  const base = createLogger(spec.name, level);
  const log = spec.logFields ? base.child(spec.logFields(config)) : base;
  let running: Running;
  try {
    running = await spec.start(config, log);
  } catch (e) {
    log.fatal({ err: e }, `${spec.name} failed to start`);
    process.stderr.write(`${spec.name}: ${(e as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      // A second signal while stopping (a supervisor repeating itself) must not kill the process half-way.
      if (stopping) {
        log.info({ signal }, 'already shutting down');
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      // A stuck connection must not keep a stopping process alive forever.
      setTimeout(() => process.exit(1), 10_000).unref();
      resolve();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  await running.stop();
  return 0;
}

/** Runs a binary as the process's main module, setting the exit code. */
export function main<T extends TSchema>(spec: BinarySpec<T>): void {
  runBinary(spec, process.argv.slice(2), process.env).then(
    (code) => {
      // On a failed start, half-open listeners must not keep the process alive.
      if (code !== 0) process.exit(code);
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${spec.name}: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
