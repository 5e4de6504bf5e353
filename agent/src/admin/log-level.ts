import { httpErrorBody, LOG_LEVELS, type Logger, setLogLevel } from '@meshlet/shared';
import type { FastifyInstance } from 'fastify';
import { AgentErrors } from '../errors.js';

/** One of the levels the agent's log can be switched to at runtime. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level a `PUT /log-level` body asks for, or the message that says what is wrong with it. */
export function parseLogLevelBody(body: unknown): { level: LogLevel } | { error: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      error: `the body must be a JSON object such as {"level": "debug"}, with "level" one of ${LOG_LEVELS.join(', ')}`,
    };
  }
  const unknown = Object.keys(body).filter((k) => k !== 'level');
  if (unknown.length > 0) return { error: `unknown field "${unknown[0]}": the body has only "level"` };
  const level = (body as { level?: unknown }).level;
  if (level === undefined) return { error: `field "level" is required: one of ${LOG_LEVELS.join(', ')}` };
  if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
    return { error: `field "level" must be one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(level)}` };
  }
  return { level: level as LogLevel };
}

/**
 * `GET /log-level` and `PUT /log-level` on the admin listener: an operator
 * turns debug on while chasing a problem, without a restart. The level is set
 * on every logger of the agent's family at once (the root, each component's
 * child, the access log: see `setLogLevel`). Not kept across restarts: the
 * config file's `log.level` stays the truth.
 */
export function registerLogLevelRoutes(app: FastifyInstance, log: Logger): void {
  app.get('/log-level', async () => ({ level: log.level }));

  app.put('/log-level', async (req, reply) => {
    const parsed = parseLogLevelBody(req.body);
    if ('error' in parsed) {
      const err = AgentErrors.BAD_REQUEST(parsed.error);
      return reply.code(err.statusCode).send(httpErrorBody(err, { field: 'level' }));
    }
    const from = log.level;
    // Logged on whichever side of the change lets the line out, so that a switch to error or silent is on record too.
    const before = log.isLevelEnabled('warn');
    if (before) log.warn({ from, to: parsed.level }, 'log level changed through the admin listener');
    setLogLevel(log, parsed.level);
    if (!before) log.warn({ from, to: parsed.level }, 'log level changed through the admin listener');
    return { level: log.level };
  });
}
