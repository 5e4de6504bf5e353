import { type Logger, type LoggerOptions, pino } from 'pino';

/** Paths of secrets that must never reach a log line, whatever object they are logged in. */
export const REDACTED_PATHS = [
  'joinToken',
  'keyPem',
  '*.keyPem',
  '*.*.keyPem',
  '*.joinToken',
  '*.*.joinToken',
  'adminToken',
  '*.adminToken',
  '*.*.adminToken',
  'readOnlyToken',
  '*.readOnlyToken',
  '*.*.readOnlyToken',
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'tokens[*].token',
  '*.tokens[*].token',
  'credential',
  '*.credential',
  'keyPem',
  '*.keyPem',
  '*.*.keyPem',
  '*.*.credential',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
];

/** Every logger of a family (a root and the children it made), so that a level change reaches them all: pino does not propagate it. */
interface Family {
  members: Set<WeakRef<Logger>>;
}
const families = new WeakMap<Logger, Family>();
/** Drops a member's entry once it is collected: fastify makes a child logger per request, so the set must not keep them. */
const reaper = new FinalizationRegistry<{ family: Family; ref: WeakRef<Logger> }>(({ family, ref }) => {
  family.members.delete(ref);
});

/** Creates the JSON logger of a meshlet process, with secrets redacted. */
export function createLogger(name: string, level: string, destination?: NodeJS.WritableStream): Logger {
  const family: Family = { members: new Set() };
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    onChild: (child) => {
      const ref = new WeakRef(child);
      family.members.add(ref);
      families.set(child, family);
      reaper.register(child, { family, ref });
    },
  };
  const logger = destination ? pino(options, destination as never) : pino(options);
  family.members.add(new WeakRef(logger));
  families.set(logger, family);
  return logger;
}

/** The log levels a process can be switched to at runtime. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Sets the level of a logger made by {@link createLogger}, of its root and of every other logger of the family, at once. */
export function setLogLevel(logger: Logger, level: (typeof LOG_LEVELS)[number]): void {
  logger.level = level;
  const family = families.get(logger);
  if (!family) return;
  for (const ref of family.members) {
    const member = ref.deref();
    if (member) member.level = level;
    else family.members.delete(ref);
  }
}
export type { Logger };
