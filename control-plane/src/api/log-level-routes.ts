import type {} from '@fastify/swagger';
import { LOG_LEVELS, type Logger, setLogLevel } from '@meshlet/shared';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

const LevelBody = Type.Object(
  {
    level: Type.Union(
      LOG_LEVELS.map((l) => Type.Literal(l)),
      { fix: `use one of ${LOG_LEVELS.join(', ')}` },
    ),
  },
  { additionalProperties: false },
);

/** `GET /v1/log-level` and `PUT /v1/log-level {level}`: the control plane's log level, changed at runtime for every component. */
export function registerLogLevelRoutes(app: FastifyInstance, log: Logger): void {
  app.get('/v1/log-level', { schema: { tags: ['logs'], summary: 'The log level in force' } }, async () => ({
    level: log.level,
  }));
  app.put<{ Body: { level: (typeof LOG_LEVELS)[number] } }>(
    '/v1/log-level',
    {
      schema: {
        tags: ['logs'],
        summary: 'Change the log level of every component at once, until the next restart',
        body: LevelBody,
      },
    },
    async (req) => {
      const from = log.level;
      setLogLevel(log, req.body.level);
      log.warn({ from, to: req.body.level }, 'log level changed through the admin API');
      return { level: log.level };
    },
  );
}
