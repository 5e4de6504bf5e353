import { type Logger, type LoggerOptions, pino } from 'pino';

/** Paths of secrets that must never reach a log line, whatever object they are logged in. */
export const REDACTED_PATHS = [
  'joinToken',
  '*.joinToken',
  '*.*.joinToken',
  'adminToken',
  '*.adminToken',
  '*.*.adminToken',
  'readOnlyToken',
  '*.readOnlyToken',
  '*.*.readOnlyToken',
  'token',
  '*.token',
  'tokens[*].token',
  '*.tokens[*].token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/** Creates the JSON logger of a meshlet process, with secrets redacted. */
export function createLogger(name: string, level: string, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return destination ? pino(options, destination as never) : pino(options);
}

export type { Logger };
